// Generates the committed test data of tests/tokenizer/data with tokenizers.js (@huggingface/tokenizers), the
// reference implementation octet's tokenizer.json support is checked against:
//   - bytelevel_{gpt2,llama3,qwen2}.json: small byte-level BPE tokenizers (256 byte symbols + merges trained here
//     on a fixed corpus), one per pre-tokenizer flavour (GPT-2 ByteLevel regex with "a b" merges; Llama-3 Split
//     regex with ["a", "b"] merges, ignore_merges and a BOS template; Qwen2 Split regex with NFC, no BOS);
//   - *_vectors.json: for each tokenizer (those above and aidreams260K's tokenizer.json from shared/models), a
//     few hundred strings with the ids tokenizers.js gives with and without special tokens, and its decoding.
// Usage: npm install && node generate.mjs [path/to/shared/models/aidreams260K]
// Deterministic: same inputs, same files.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const outDir = path.join(repo, 'tests/tokenizer/data');
const aidreamsDir = process.argv[2] ?? path.resolve(repo, '../shared/models/aidreams260K');

// ---- deterministic randomness -------------------------------------------------------------------------------------
function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- test strings -------------------------------------------------------------------------------------------------
const sampleLines = fs.readFileSync(path.join(aidreamsDir, 'sample_text.txt'), 'utf8').split('\n').filter((l) => l);

const handWritten = [
  '', ' ', '  ', '   ', 'a', 'A', ' a', 'a ', '  a  ', 'hello', 'Hello world', 'Hello  world', 'Hello   world',
  'hello\nworld', 'hello\n\nworld', 'hello \n world', 'line1\r\nline2', '\t\ttabbed', 'trailing spaces   ',
  '\n', '\n\n\n', ' \n ', '\r\n', 'a\u00a0b', 'x\u3000y', 'x\u2003y',
  "don't", "I'm", "you're", "we've", "she'll", "he'd", "it's", "DON'T", "I'LL", "WE'VE", "'s", "''", "'t'",
  "rock 'n' roll", "O'Neil's", "it'S",
  '0', '1', '12', '123', '1234', '12345', '1234567890', '3.14159', '-42', '1,000,000', '2024-01-01', 'v1.2.3',
  '0x1F', '1e-9', '١٢٣', '²³', 'Ⅻ', '½',
  'café', 'naïve', 'résumé', 'Ångström', 'über', 'piñata', 'façade', 'Ελληνικά', 'Привет, мир!', 'Ça va?',
  '中文', '你好，世界', '日本語のテキスト', '한국어', 'ภาษาไทย', 'हिन्दी', 'العربية', 'עברית', 'ქართული',
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', 'I ❤️ code', 'emoji😀in😀text', '🤖 robots 🤖', '∑∫∂√∞', '→ ← ↑ ↓',
  '¿Qué?', '¡Hola!', '“quotes”', '‘single’', '«guillemets»', '—dash—', '…', '•bullet', '©®™',
  'def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; ++i) { sum += a[i]; }', 'if x==1:\n\tpass',
  '#include <stdio.h>', 'std::vector<int> v{1, 2, 3};', '{"key": "value", "n": 42}', '<div class="x">hi</div>',
  'SELECT * FROM t WHERE id = 7;', 'https://example.com/path?q=1&r=2', 'user@example.com', 'C:\\Users\\x',
  '$HOME/.bashrc', 'a+b=c', '(a)', '[b]', '{c}', '!!!', '???', '...', '---', '___', '***', '###', '@@@', '~~~',
  '<s>', '</s>', '<unk>', 'a<s>b', 'hello </s> world', '<s><s>', ' <s> ', '<0x41>', '<0xFF>', '<|endoftext|>',
  'x<|endoftext|>y', '<|begin_of_text|>hi', 'hi<|eot_id|>', '<|im_start|>user\nhello<|im_end|>',
  '<|im_start|> spaced <|im_end|>', '<|eot_id|> <|eot_id|>',
  '\u00e9', 'e\u0301', 'A\u030a', '\u1100\u1161', 'n\u0303', 'Cafe\u0301', '\ufb01', 'Ａ', 'ｶﾀｶﾅ',
  'The quick brown fox jumps over the lazy dog.', 'THE QUICK BROWN FOX', 'tHe QuIcK bRoWn',
  'Embeddings blend through me, guiding my surface.', '"Echoes of vectors unfold, a gentle hum of precision,',
  'a\tb\tc', 'a\vb', 'a\fb', 'x  \n  y', 'x\n \ny', ' \t \n', 'end.\n', '  leading', 'mixed 123abc 4d5e',
  'abc123', '123abc', 'a1b2c3', 'word...word', 'word,word', 'word;word', 'CamelCaseWord', 'snake_case_word',
  'kebab-case-word', 'ALLCAPS', 'x'.repeat(200), 'ab'.repeat(60), ' '.repeat(40) + 'x', '9'.repeat(25),
];

const pools = [
  ['the', 'a', 'dream', 'vector', 'gentle', 'hum', 'of', 'and', 'I', 'sense', 'nodes', 'weights', 'code'],
  ['é', 'ü', 'ñ', 'ç', 'ø', 'ß', 'Æ', 'ī', 'ő', 'ț'],
  ['中', '文', '日', '本', '語', '한', '국', 'ก', 'ह', 'ع', 'ж', 'Ω'],
  ['😀', '👍', '🏽', '❤️', '🚀', '\u200d', '🌍', '✨'],
  ['0', '1', '42', '123', '2024', '3.5', '007', '99999'],
  [' ', '  ', '\t', '\n', '\n\n', ' \n', '\r\n', '   '],
  ['.', ',', '!', '?', ';', ':', '(', ')', '"', "'", '-', '—', '...', '<', '>', '{', '}', '#', '*'],
  ["'s", "'t", "'re", "'LL", "'d", "'M"],
  ['<s>', '</s>', '<|endoftext|>', '<|eot_id|>', '<|im_start|>', '<0x20>'],
];

function randomStrings(count, seed) {
  const rand = mulberry32(seed);
  const out = [];
  for (let i = 0; i < count; ++i) {
    const parts = 1 + Math.floor(rand() * 12);
    let s = '';
    for (let j = 0; j < parts; ++j) {
      // Special-token text is rare, so most strings test plain BPE.
      const poolIndex = Math.floor(rand() * (rand() < 0.05 ? pools.length : pools.length - 1));
      const pool = pools[poolIndex];
      s += pool[Math.floor(rand() * pool.length)];
    }
    out.push(s);
  }
  return out;
}

const testStrings = [...handWritten, ...sampleLines, ...randomStrings(220, 12345)];

// NFC-inert as octet defines it (src/tokenizer/unicode.h, tools/tokenizer-vectors/gen-unicode-tables.mjs).
function nfcInert(text) {
  for (const ch of text) {
    if (/\p{M}/u.test(ch) || ch.normalize('NFC') !== ch) return false;
    if (ch.codePointAt(0) >= 0x300 && nfdNonFirst.has(ch.codePointAt(0))) return false;
  }
  return true;
}
const nfdNonFirst = new Set();
for (let cp = 0; cp <= 0x10ffff; ++cp) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const d = Array.from(String.fromCodePoint(cp).normalize('NFD'));
  for (let i = 1; i < d.length; ++i) nfdNonFirst.add(d[i].codePointAt(0));
}

// ---- byte-level BPE tokenizers ------------------------------------------------------------------------------------
const bytesToUnicode = (() => {
  const bs = [];
  for (let b = 33; b <= 126; ++b) bs.push(b);
  for (let b = 161; b <= 172; ++b) bs.push(b);
  for (let b = 174; b <= 255; ++b) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; ++b) {
    if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); ++n; }
  }
  const map = new Array(256);
  bs.forEach((b, i) => { map[b] = String.fromCodePoint(cs[i]); });
  return map;
})();

const trainingCorpus = [
  ...sampleLines,
  'def tokenize(text):\n    return [vocab[w] for w in text.split()]\n',
  'for (int i = 0; i < n; ++i) { total += values[i]; }\n',
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.',
  'Les rêves de la machine sont doux et électriques. Ça marche très bien.',
  'Träume über Vektoren, Gewichte und Schichten, während die Maschine schläft.',
  '机器在梦中学习。向量在夜里轻轻地嗡嗡作响。', 'Числа 123 456 7890 и слова: мечты, векторы.',
  "I'm sure it's fine, we've seen they'll do what you'd expect. DON'T PANIC.",
  '2024-01-01 12:34:56 value=3.14159 count=1000000 ratio=0.5',
];

function trainMerges(numMerges) {
  const pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const encoder = new TextEncoder();
  const wordCounts = new Map();
  for (const text of trainingCorpus) {
    for (const word of text.match(pattern) ?? []) {
      const symbols = Array.from(encoder.encode(word), (b) => bytesToUnicode[b]).join('');
      wordCounts.set(symbols, (wordCounts.get(symbols) ?? 0) + 1);
    }
  }
  let words = [...wordCounts].map(([w, c]) => [Array.from(w), c]);
  const merges = [];
  for (let m = 0; m < numMerges; ++m) {
    const pairs = new Map();
    for (const [symbols, count] of words) {
      for (let i = 0; i + 1 < symbols.length; ++i) {
        const key = symbols[i] + '\u0000' + symbols[i + 1];
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    if (pairs.size === 0) break;
    const [best] = [...pairs].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))[0];
    const [left, right] = best.split('\u0000');
    merges.push([left, right]);
    words = words.map(([symbols, count]) => {
      const merged = [];
      for (let i = 0; i < symbols.length; ++i) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          ++i;
        } else {
          merged.push(symbols[i]);
        }
      }
      return [merged, count];
    });
  }
  return merges;
}

function byteLevelTokenizer(flavour, merges) {
  const vocab = {};
  for (let b = 0; b < 256; ++b) vocab[bytesToUnicode[b]] = b;
  for (const [l, r] of merges) if (!(l + r in vocab)) vocab[l + r] = Object.keys(vocab).length;
  let next = Object.keys(vocab).length;
  const added = (content, special = true) =>
    ({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });
  const regex = {
    llama3: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  };
  const base = {
    version: '1.0', truncation: null, padding: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  };
  const model = (mergeFormat, ignoreMerges) => ({
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: ignoreMerges, vocab,
    merges: mergeFormat === 'pairs' ? merges : merges.map(([l, r]) => `${l} ${r}`),
  });
  if (flavour === 'gpt2') {
    return {
      ...base, added_tokens: [added('<|endoftext|>')], normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      model: model('strings', false),
    };
  }
  const splitThenBytes = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: regex[flavour] }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
  if (flavour === 'llama3') {
    const tokens = [added('<|begin_of_text|>'), added('<|end_of_text|>'), added('<|eot_id|>'),
      added('dreamer', false)];
    return {
      ...base, added_tokens: tokens, normalizer: null, pre_tokenizer: splitThenBytes,
      post_processor: {
        type: 'Sequence',
        processors: [
          { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
          {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [tokens[0].id], tokens: ['<|begin_of_text|>'] } },
          },
        ],
      },
      model: model('pairs', true),
    };
  }
  return {
    ...base, added_tokens: [added('<|endoftext|>'), added('<|im_start|>'), added('<|im_end|>')],
    normalizer: { type: 'NFC' }, pre_tokenizer: splitThenBytes, post_processor: null, model: model('pairs', false),
  };
}

// ---- vectors ------------------------------------------------------------------------------------------------------
function vectors(name, tokenizerJson, config, extra = () => ({})) {
  const tokenizer = new Tokenizer(tokenizerJson, config);
  const cases = testStrings.map((text) => {
    const ids = tokenizer.encode(text).ids;
    const idsNoSpecial = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const decoded = ids.length ? tokenizer.decode(ids, { skip_special_tokens: true }) : '';
    return { text, ids, ids_no_special: idsNoSpecial, decoded, ...extra(text) };
  });
  const file = path.join(outDir, `${name}_vectors.json`);
  fs.writeFileSync(file, JSON.stringify({
    tokenizer: name,
    generator: 'tools/tokenizer-vectors/generate.mjs with @huggingface/tokenizers ' +
      JSON.parse(fs.readFileSync(path.join(here, 'node_modules/@huggingface/tokenizers/package.json'))).version,
    cases,
  }, null, 1) + '\n');
  console.log(`${file}: ${cases.length} cases`);
}

fs.mkdirSync(outDir, { recursive: true });
const merges = trainMerges(400);
for (const flavour of ['gpt2', 'llama3', 'qwen2']) {
  const json = byteLevelTokenizer(flavour, merges);
  const file = path.join(outDir, `bytelevel_${flavour}.json`);
  fs.writeFileSync(file, JSON.stringify(json) + '\n');
  console.log(`${file}: ${Object.keys(json.model.vocab).length} tokens, ${merges.length} merges`);
  vectors(`bytelevel_${flavour}`, json, { clean_up_tokenization_spaces: false },
    flavour === 'qwen2' ? (text) => ({ nfc_inert: nfcInert(text) }) : () => ({}));
}
const aidreams = JSON.parse(fs.readFileSync(path.join(aidreamsDir, 'tokenizer.json'), 'utf8'));
const aidreamsConfig = JSON.parse(fs.readFileSync(path.join(aidreamsDir, 'tokenizer_config.json'), 'utf8'));
vectors('aidreams260K', aidreams, aidreamsConfig);
