#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/ (small valid and near-valid inputs; no model weights).

Run from anywhere: python3 fuzz/make_corpus.py. The files are committed; this script documents how they were made.
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(header, data, pad=True, length=None):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def st_seeds():
    t = "safetensors_header_fuzzer"
    valid = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]},
        "s": {"dtype": "F8_E4M3", "shape": [], "data_offsets": [20, 21]},
        "e": {"dtype": "F16", "shape": [0, 7], "data_offsets": [21, 21]},
    }
    data = bytes(range(21))
    put(t, "valid_mixed", safetensors(valid, data))
    put(t, "valid_empty_header", safetensors({}, b""))
    put(t, "valid_unpadded", safetensors({"x": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, b"\1" * 8, False))
    put(t, "valid_dtypes", safetensors(
        {k: {"dtype": k, "shape": [1], "data_offsets": [i * 8, i * 8 + 8 // 1]} for i, k in
         enumerate(["F64", "I64", "U64"])}, b"\0" * 24))
    put(t, "valid_f8_e5m2", safetensors({"q": {"dtype": "F8_E5M2", "shape": [3, 1], "data_offsets": [0, 3]},
                                         "q_scale": {"dtype": "F32", "shape": [], "data_offsets": [3, 7]}}, b"\0" * 7))
    full = safetensors(valid, data)
    put(t, "truncated_data", full[:-3])
    put(t, "truncated_header", full[:20])
    put(t, "trailing_bytes", full + b"xyz")
    put(t, "length_too_big", safetensors(valid, data, length=100000))
    put(t, "overlap", safetensors({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                   "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"\0" * 6))
    put(t, "gap", safetensors({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                               "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}}, b"\0" * 6))
    dup = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    put(t, "duplicate_key", struct.pack("<Q", len(dup)) + dup + b"\0")
    put(t, "bad_dtype", safetensors({"a": {"dtype": "F7", "shape": [1], "data_offsets": [0, 1]}}, b"\0"))
    put(t, "negative_shape", safetensors({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}, b"\0"))
    put(t, "huge_shape", safetensors({"a": {"dtype": "F32", "shape": [2**62, 2**3], "data_offsets": [0, 0]}}, b""))
    put(t, "metadata_not_strings", safetensors({"__metadata__": {"n": 1}}, b""))


def index_seeds():
    # Matches the two shards checkpoint_index_fuzzer.cc writes (64-byte shard limit).
    t = "checkpoint_index_fuzzer"
    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    wm = {"model.embed_tokens.weight": s1, "model.norm.weight": s2, "lm_head.weight": s2, "scalar": s2, "empty": s2}
    put(t, "valid", json.dumps({"metadata": {"total_size": 108}, "weight_map": wm}, indent=2))
    put(t, "valid_no_metadata", json.dumps({"weight_map": wm}))
    put(t, "wrong_shard", json.dumps({"weight_map": dict(wm, scalar=s1)}))
    put(t, "missing_tensor", json.dumps({"weight_map": {k: v for k, v in wm.items() if k != "empty"}}))
    put(t, "extra_tensor", json.dumps({"weight_map": dict(wm, ghost=s2)}))
    put(t, "path_escape", json.dumps({"weight_map": dict(wm, scalar="../" + s2)}))
    put(t, "self_reference", json.dumps({"weight_map": dict(wm, scalar="model.safetensors.index.json")}))
    put(t, "not_object", json.dumps({"weight_map": [s1, s2]}))
    put(t, "bad_metadata", json.dumps({"metadata": 3, "weight_map": wm}))


def config_seeds():
    t = "config_fuzzer"
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
             "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
             "head_dim": 16, "vocab_size": 512, "max_position_embeddings": 128, "rms_norm_eps": 1e-05,
             "rope_theta": 10000.0, "rope_scaling": None, "hidden_act": "silu", "tie_word_embeddings": True,
             "torch_dtype": "float32"}
    put(t, "llama", json.dumps(llama, indent=2))
    put(t, "llama_gqa", json.dumps(dict(llama, num_attention_heads=8, num_key_value_heads=2, head_dim=None,
                                        tie_word_embeddings=False)))
    put(t, "llama3_rope", json.dumps(dict(llama, rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                               "original_max_position_embeddings": 8192})))
    put(t, "mistral", json.dumps(dict(llama, architectures=["MistralForCausalLM"], sliding_window=4096)))
    put(t, "mixtral", json.dumps(dict(llama, architectures=["MixtralForCausalLM"], model_type="mixtral",
                                      num_local_experts=4, num_experts_per_tok=2)))
    put(t, "unknown_arch", json.dumps(dict(llama, architectures=["GPT2LMHeadModel"])))
    put(t, "bad_heads", json.dumps(dict(llama, num_key_value_heads=3, head_dim=None)))
    put(t, "missing_layers", json.dumps({k: v for k, v in llama.items() if k != "num_hidden_layers"}))
    put(t, "string_sizes", json.dumps(dict(llama, hidden_size="64")))


def token_seeds():
    t = "token_file_fuzzer"
    put(t, "valid_unbounded", "\x00" + "1 345 22 7\n1 2 3\n")
    put(t, "valid_vocab512", "\x02" + "1 511 0\r\n\n  4\t5  \n")
    put(t, "too_big", "\x02" + "1 512\n")
    put(t, "overflow", "\x00" + "99999999999999999999999\n")
    put(t, "negative", "\x03" + "1 -2\n")
    put(t, "junk", "\x00" + "1 2x 3\n")


# --- GGUF (ggml docs/gguf.md; an encoder independent of octet's GgufWriter, which tests/io cross-checks) ---

GGUF_TYPES = {"u8": (0, "<B"), "i8": (1, "<b"), "u16": (2, "<H"), "i16": (3, "<h"), "u32": (4, "<I"), "i32": (5, "<i"),
              "f32": (6, "<f"), "bool": (7, "<B"), "str": (8, None), "arr": (9, None), "u64": (10, "<Q"),
              "i64": (11, "<q"), "f64": (12, "<d")}


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(kind, value):
    if kind == "str":
        return gguf_str(value)
    if isinstance(kind, tuple):  # ("arr", element kind)
        elem = kind[1]
        elem_id = GGUF_TYPES["arr" if isinstance(elem, tuple) else elem][0]
        return struct.pack("<IQ", elem_id, len(value)) + b"".join(gguf_value(elem, v) for v in value)
    return struct.pack(GGUF_TYPES[kind][1], value)


def gguf(kvs, tensors, alignment=32, version=3, pad_data=True):
    """kvs: [(key, kind, value)]; tensors: [(name, ne, type, data bytes)], packed in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, kind, value in kvs:
        type_id = GGUF_TYPES["arr"][0] if isinstance(kind, tuple) else GGUF_TYPES[kind][0]
        out += gguf_str(key) + struct.pack("<I", type_id) + gguf_value(kind, value)
    offset, data = 0, b""
    for name, ne, ggml_type, payload in tensors:
        out += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", d) for d in ne)
        out += struct.pack("<IQ", ggml_type, offset)
        padded = payload + b"\0" * (-len(payload) % alignment)
        data += padded
        offset += len(padded)
    out += b"\0" * (-len(out) % alignment)
    return out + (data if pad_data else data.rstrip(b"\0"))


def gguf_seeds():
    t = "gguf_reader_fuzzer"
    q8 = struct.pack("<e", 0.5) + bytes(range(32))                       # one Q8_0 block, d = 0.5
    q4 = struct.pack("<e", -1.0) + bytes([0x0F, 0xF0] * 8)                # one Q4_0 block
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    meta = [("general.architecture", "str", "llama"), ("llama.block_count", "u32", 1),
            ("llama.rope.freq_base", "f32", 10000.0), ("general.flag", "bool", 1), ("general.i64", "i64", -5),
            ("general.f64", "f64", 0.25), ("general.u8s", ("arr", "u8"), [1, 2, 3]),
            ("general.nested", ("arr", ("arr", "i32")), [[1, 2], [3]])]
    tensors = [("blk.0.attn_q.weight", [32, 2], 8, q8 + q8), ("blk.0.attn_k.weight", [32], 2, q4),
               ("output_norm.weight", [4], 0, f32), ("token_embd.weight", [2, 2], 1, struct.pack("<4e", 1, 2, 3, 4))]
    valid = gguf(meta, tensors)
    put(t, "valid_mixed", valid)
    put(t, "valid_v2", gguf(meta[:2], tensors[2:3], version=2))
    put(t, "valid_align64", gguf([("general.alignment", "u32", 64)] + meta[:1], tensors[:2], alignment=64))
    put(t, "valid_metadata_only", gguf(meta, []))
    put(t, "valid_unpadded_tail", gguf(meta[:1], tensors[2:3], pad_data=False))
    put(t, "valid_q4k", gguf(meta[:1], [("k", [256], 12, b"\0" * 144)]))
    # tokenizer.ggml.* vocabularies (tiny): SentencePiece-style and byte-level BPE.
    spm_tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + ["\u2581", "\u2581t", "h", "e",
                                                                                   "\u2581th", "\u2581the", "t"]
    spm = [("tokenizer.ggml.model", "str", "llama"), ("tokenizer.ggml.tokens", ("arr", "str"), spm_tokens),
           ("tokenizer.ggml.scores", ("arr", "f32"), [0.0] * 259 + [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0]),
           ("tokenizer.ggml.token_type", ("arr", "i32"), [2, 3, 3] + [6] * 256 + [1] * 7),
           ("tokenizer.ggml.bos_token_id", "u32", 1), ("tokenizer.ggml.eos_token_id", "u32", 2)]
    put(t, "vocab_llama", gguf(spm, []))
    bpe_tokens = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["\u0120", "\u0120t", "th", "\u0120th", "<|eot_id|>"]
    bpe = [("tokenizer.ggml.model", "str", "gpt2"), ("tokenizer.ggml.pre", "str", "llama-bpe"),
           ("tokenizer.ggml.tokens", ("arr", "str"), bpe_tokens),
           ("tokenizer.ggml.token_type", ("arr", "i32"), [1] * 30 + [3]),
           ("tokenizer.ggml.merges", ("arr", "str"), ["\u0120 t", "t h", "\u0120t h"]),
           ("tokenizer.ggml.bos_token_id", "u32", 30), ("tokenizer.ggml.eos_token_id", "u32", 30)]
    put(t, "vocab_gpt2", gguf(bpe, []))
    # Near-valid: each breaks one rule.
    put(t, "truncated_data", valid[:-40])
    put(t, "truncated_header", valid[:60])
    put(t, "bad_magic", b"GGUG" + valid[4:])
    put(t, "bad_version", valid[:4] + struct.pack("<I", 4) + valid[8:])
    put(t, "huge_tensor_count", valid[:8] + struct.pack("<Q", 2**62) + valid[16:])
    put(t, "huge_kv_count", valid[:16] + struct.pack("<Q", 2**40) + valid[24:])
    put(t, "huge_string", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**50) + b"k" * 16)
    bad_offset = bytearray(gguf(meta[:1], [("a", [4], 0, f32), ("b", [4], 0, f32)]))
    at = bytes(bad_offset).rfind(struct.pack("<IQ", 0, 32))
    bad_offset[at + 4:at + 12] = struct.pack("<Q", 4)
    put(t, "misaligned_offset", bytes(bad_offset))
    bad_offset[at + 4:at + 12] = struct.pack("<Q", 0)
    put(t, "overlapping_tensors", bytes(bad_offset))
    bad_offset[at + 4:at + 12] = struct.pack("<Q", 2**63)
    put(t, "offset_out_of_range", bytes(bad_offset))
    put(t, "unknown_type", gguf(meta[:1], [("a", [4], 77, f32)]))
    put(t, "bad_block_multiple", gguf(meta[:1], [("a", [33], 8, q8 * 2)]))
    put(t, "duplicate_key", gguf(meta[:1] + meta[:1], []))
    put(t, "duplicate_tensor", gguf([], [("a", [4], 0, f32), ("a", [4], 0, f32)]))
    put(t, "bad_bool", gguf([("b", "u8", 2)], []).replace(struct.pack("<I", 0) + b"\x02", struct.pack("<I", 7) + b"\x02"))
    put(t, "vocab_bad_pre", gguf([bpe[0], ("tokenizer.ggml.pre", "str", "default")] + bpe[2:], []))
TOKENIZER_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tokenizer", "data")


def trimmed_tokenizer_json(name, keep=296):
    """tests/tokenizer/data/<name>.json with only ids < keep (the 256 byte tokens and the first merges' results) and
    the merges that build them; added tokens renumbered to follow."""
    with open(os.path.join(TOKENIZER_DATA, name + ".json")) as f:
        root = json.load(f)
    model = root["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < keep}
    merges = []
    for m in model["merges"]:
        left, right = m.split(" ", 1) if isinstance(m, str) else m
        if left in vocab and right in vocab and left + right in vocab:
            merges.append(m)
    model["vocab"], model["merges"] = vocab, merges
    remap = {t["id"]: keep + k for k, t in enumerate(root["added_tokens"])}

    def renumber(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "id" and isinstance(value, int):
                    node[key] = remap.get(value, value)
                elif key == "ids" and isinstance(value, list):
                    node[key] = [remap.get(v, v) for v in value]
                else:
                    renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(root["added_tokens"])
    renumber(root["post_processor"])
    return json.dumps(root, ensure_ascii=False, separators=(",", ":"))


def sentencepiece_style_json():
    """A Llama-2-style tokenizer.json (what transformers' LlamaConverter writes): Prepend/Replace normalizer, byte
    fallback, TemplateProcessing with BOS, and the Replace/ByteFallback/Fuse/Strip decoder."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    merges = []
    for left, right in [("\u2581", "t"), ("h", "e"), ("\u2581t", "he"), ("\u2581", "a"), ("i", "n"), ("\u2581", "o"),
                        ("n", "c"), ("\u2581o", "nc"), ("e", "r"), ("\u2581", "u"), ("p", "o"), ("\u2581u", "po")]:
        for piece in (left, right, left + right):
            if piece not in vocab:
                vocab[piece] = len(vocab)
        merges.append(left + " " + right)
    for ch in "abcdefghijklmnopqrstuvwxyz.,":
        vocab.setdefault(ch, len(vocab))
    special = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                            "normalized": False, "special": True}
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                           {"type": "Replace", "pattern": {"String": " "},
                                                            "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }, ensure_ascii=False, separators=(",", ":"))


def tokenizer_json_seeds():
    t = "tokenizer_json_fuzzer"
    for name in ("gpt2", "llama3", "qwen2"):
        put(t, "bytelevel_" + name, trimmed_tokenizer_json("bytelevel_" + name))
    sp = sentencepiece_style_json()
    put(t, "sentencepiece_style", sp)
    metaspace = json.loads(sp)
    metaspace["normalizer"] = None
    metaspace["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    metaspace["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    put(t, "metaspace", json.dumps(metaspace, ensure_ascii=False))
    minimal = {"added_tokens": [], "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
               "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
    put(t, "minimal", json.dumps(minimal))
    put(t, "merge_of_unknown", json.dumps(dict(minimal, model={"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]})))
    put(t, "bad_vocab_id", json.dumps(dict(minimal, model={"type": "BPE", "vocab": {"a": -5}, "merges": []})))
    put(t, "unigram", json.dumps(dict(minimal, model={"type": "Unigram", "vocab": [["a", 0.0]]})))
    put(t, "truncated", sp[: len(sp) // 2])


def llama2c_bin(tokens, max_length=None):
    max_length = max_length if max_length is not None else max(len(t) for t, _ in tokens)
    out = struct.pack("<i", max_length)
    for text, score in tokens:
        out += struct.pack("<fi", score, len(text)) + text
    return out


def tokenizer_bin_seeds():
    t = "tokenizer_bin_fuzzer"
    # llama2.c's layout: <unk>, <s>, </s>, <0x00>..<0xFF>, then merged pieces with their scores.
    tokens = [(b"<unk>", 0.0), (b"\n<s>\n", 0.0), (b"\n</s>\n", 0.0)]
    tokens += [(b"<0x%02X>" % b, 0.0) for b in range(256)]
    pieces = [" ", "t", "h", "e", "th", "he", " t", " the", "a", " a", "n", "on", " on", "c", "nce", " once", "\u00e9"]
    tokens += [(p.encode(), -float(i)) for i, p in enumerate(pieces)]
    valid = llama2c_bin(tokens)
    put(t, "valid", valid)
    put(t, "too_few_tokens", llama2c_bin(tokens[:100]))
    put(t, "truncated", valid[:-3])
    put(t, "bad_max_length", llama2c_bin(tokens, max_length=0))
    put(t, "length_over_max", llama2c_bin(tokens, max_length=4))


if __name__ == "__main__":
    st_seeds()
    index_seeds()
    config_seeds()
    token_seeds()
    gguf_seeds()
    tokenizer_json_seeds()
    tokenizer_bin_seeds()
