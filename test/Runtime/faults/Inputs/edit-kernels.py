# Copies bundle IN to OUT with its KERNELS section (the CPU kernels' ELF shared
# object) damaged, every other byte kept, so that the bundle itself stays valid:
#   edit-kernels.py IN OUT truncate N   the section keeps only its first N bytes
#   edit-kernels.py IN OUT no-segments  the ELF header claims no program headers
#   edit-kernels.py IN OUT segment-past the first segment starts 1 TiB in
#   edit-kernels.py IN OUT section-headers  the section ends where its last
#                                        segment does (section headers cut off)
import struct
import sys

data = bytearray(open(sys.argv[1], "rb").read())
how = sys.argv[3]
count = struct.unpack_from("<I", data, 12)[0]
for i in range(count):
    entry = 64 + 24 * i
    kind, _, offset, size = struct.unpack_from("<IIQQ", data, entry)
    if kind == 2:  # MOERT_BUNDLE_SECTION_KERNELS
        break
else:
    sys.exit("no KERNELS section")
assert data[offset:offset + 4] == b"\x7fELF", "KERNELS is not ELF"
if how == "truncate":
    struct.pack_into("<Q", data, entry + 16, int(sys.argv[4]))
elif how == "no-segments":
    struct.pack_into("<Q", data, offset + 32, 0)  # e_phoff
    struct.pack_into("<H", data, offset + 56, 0)  # e_phnum
elif how == "segment-past":
    phoff = struct.unpack_from("<Q", data, offset + 32)[0]
    struct.pack_into("<Q", data, offset + phoff + 8, 1 << 40)  # p_offset
elif how == "section-headers":
    phoff, = struct.unpack_from("<Q", data, offset + 32)
    phnum, = struct.unpack_from("<H", data, offset + 56)
    end = 0
    for i in range(phnum):
        at = offset + phoff + 56 * i
        p_offset, = struct.unpack_from("<Q", data, at + 8)
        p_filesz, = struct.unpack_from("<Q", data, at + 32)
        end = max(end, p_offset + p_filesz)
    assert end < size, "nothing after the last segment"
    struct.pack_into("<Q", data, entry + 16, end)
else:
    sys.exit("unknown edit " + how)
open(sys.argv[2], "wb").write(data)
