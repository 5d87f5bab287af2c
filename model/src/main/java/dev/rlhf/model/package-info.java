/**
 * The model core: plain Java, no Quarkus. Model configuration (Hugging Face
 * {@code config.json}, Llama family), tokenizer, safetensors, the ONNX graph writer, the
 * ONNX Runtime runner and the versioned model store. Not built yet: see the model-core
 * issue. Nothing here pretends to work until then.
 */
package dev.rlhf.model;
