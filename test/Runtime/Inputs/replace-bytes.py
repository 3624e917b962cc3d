# Copies IN to OUT replacing the first COUNT occurrences of OLD by NEW (same
# length, so that every offset stays valid): replace-bytes.py IN OUT OLD NEW [COUNT]
import sys

data = open(sys.argv[1], "rb").read()
old, new = sys.argv[3].encode(), sys.argv[4].encode()
count = int(sys.argv[5]) if len(sys.argv) > 5 else 1
assert len(old) == len(new), "OLD and NEW must have the same length"
assert data.count(old) >= count, "fewer than COUNT occurrences of OLD"
open(sys.argv[2], "wb").write(data.replace(old, new, count))
