// A router whose type list is missing: the parser must point at it.
func.func @router(%logits: tensor<4x8xf32>) {
  %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2>
  return
}
