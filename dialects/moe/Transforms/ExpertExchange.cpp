//===- ExpertExchange.cpp - pieces of the expert-parallel exchange --------===//

#include "ExpertExchange.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace {

Value i32Constant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
}

/// A 1-D elementwise linalg.generic making an i32 tensor of `size` from
/// `body(builder, loc, index, inputs)`.
Value i32Generic(OpBuilder &builder, Location loc, int64_t size,
                 ValueRange inputs,
                 function_ref<Value(OpBuilder &, Location, Value, ValueRange)>
                     body) {
  Value init =
      tensor::EmptyOp::create(builder, loc, {size}, builder.getI32Type());
  SmallVector<AffineMap> maps(inputs.size() + 1,
                              builder.getMultiDimIdentityMap(1));
  return linalg::GenericOp::create(
             builder, loc, init.getType(), inputs, ValueRange{init}, maps,
             {utils::IteratorType::parallel},
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value index = linalg::IndexOp::create(b, l, 0);
               linalg::YieldOp::create(b, l,
                                       body(b, l, index, args.drop_back()));
             })
      .getResult(0);
}

} // namespace

Value mlir::moe::buildRowLocalExperts(OpBuilder &builder, Location loc,
                                      Value sources, Value positions,
                                      int64_t numRows, int64_t topK,
                                      int64_t localExperts) {
  return i32Generic(
      builder, loc, numRows, ValueRange{sources},
      [&](OpBuilder &b, Location l, Value, ValueRange args) {
        Value source = args[0];
        Value zero = i32Constant(b, l, 0);
        Value valid = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge,
                                            source, zero);
        Value safe = arith::SelectOp::create(b, l, valid, source, zero);
        Value k = i32Constant(b, l, topK);
        Value token = arith::IndexCastOp::create(
            b, l, b.getIndexType(), arith::DivSIOp::create(b, l, safe, k));
        Value slot = arith::IndexCastOp::create(
            b, l, b.getIndexType(), arith::RemSIOp::create(b, l, safe, k));
        Value position = tensor::ExtractOp::create(b, l, positions,
                                                   ValueRange{token, slot});
        Value local = arith::RemSIOp::create(b, l, position,
                                             i32Constant(b, l, localExperts));
        return arith::SelectOp::create(b, l, valid, local,
                                       i32Constant(b, l, localExperts))
            .getResult();
      });
}

Value mlir::moe::buildReceivedTags(OpBuilder &builder, Location loc,
                                   Value receivedExperts, Value recvCounts,
                                   int64_t capacity, int64_t localExperts) {
  int64_t members = cast<RankedTensorType>(recvCounts.getType()).getDimSize(0);
  return i32Generic(
      builder, loc, capacity, ValueRange{receivedExperts},
      [&](OpBuilder &b, Location l, Value index, ValueRange args) {
        Value total = i32Constant(b, l, 0);
        for (int64_t j = 0; j < members; ++j)
          total = arith::AddIOp::create(
              b, l, total,
              tensor::ExtractOp::create(
                  b, l, recvCounts,
                  ValueRange{arith::ConstantIndexOp::create(b, l, j)}));
        Value row = arith::IndexCastOp::create(b, l, b.getI32Type(), index);
        Value inUse = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                            row, total);
        return arith::SelectOp::create(b, l, inUse, args[0],
                                       i32Constant(b, l, localExperts))
            .getResult();
      });
}
