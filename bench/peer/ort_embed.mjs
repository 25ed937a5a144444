// ort_embed.mjs - the ONNX Runtime peer of bench_embed: the same BERT
// sentence encoder, the same weights and the same token ids, run by ONNX
// Runtime (CPU, fp32), so bench_embed's figures can be put beside those
// of a widely used inference engine on the same machine.
//
//   node ort_embed.mjs --model DIR --ids IDS.jsonl --emb EMB.jsonl
//                      [--graph export,fused] [--threads 1,2] [--runs N]
//                      [--batch-size 32] [--min-cos 0.9999]
//                      [--save-onnx PREFIX] [--show-fusions]
//
// DIR is a model directory in the Hugging Face layout (config.json,
// model.safetensors; tensor names with or without "bert.", as
// src/embed/model.c accepts).  IDS.jsonl and EMB.jsonl are what
// `bench_embed --dump-ids/--dump-emb` write: per line, one text's token
// ids ([CLS] ... [SEP]) and our float32 embedding, in corpus order.
//
// DESIGN
// The ONNX graph is written here, node by node, with the weights as
// float32 initializers, and serialised with onnx-proto (the onnx.proto
// schema compiled for protobufjs).  It computes what src/embed/encoder.c
// computes: word + position + token-type-0 embeddings, LayerNorm; per
// layer self-attention with the padding masked out, projection +
// residual + LayerNorm, exact (erf) GELU feed-forward + residual +
// LayerNorm; mean over the unpadded tokens; L2 normalisation.  Two
// spellings of it (--graph):
//
//   export  standard opset-17 ops in the shape that exporting Hugging
//           Face's BertModel + sentence-transformers' mean pooling gives
//           (separate Q/K/V MatMul + Add, Reshape/Transpose per head, an
//           additive (1 - mask) * -10000 over [B, 1, 1, S], Div by
//           sqrt(head_dim), Softmax, x * (1 + erf(x / sqrt 2)) * 0.5,
//           LayerNormalization).  ORT's own graph optimiser (level "all")
//           fuses the GELU (BiasGelu) and the scaled Q.K^T (FusedMatMul)
//           but, in 1.31.1, not the attention nor the residual +
//           LayerNorm (--show-fusions prints what it made).
//   fused   close to what onnxruntime.transformers.optimizer (ORT's
//           offline Python tool for transformer models) makes of such an
//           export: com.microsoft Attention (Q|K|V packed into one
//           [H, 3H] weight, the mask as per-row lengths),
//           SkipLayerNormalization and BiasGelu (the tool would also fuse
//           the embeddings into EmbedLayerNormalization; here they stay
//           Gather + Add + LayerNormalization, ~0.1% of the work).
//
// The texts are sorted by length (longest first) and run in batches of
// --batch-size, each padded to its longest text, with input_ids and
// attention_mask (int64), as an application would.  The time of a pass
// covers building the batches, the runs and copying the outputs out; it
// does not include tokenisation (bench_embed's does, ~0.1% of it).
// FLOPs are counted as bench_embed counts them: per text of n tokens and
// per layer 8nH^2 + 4nHI + 4n^2H, padding not counted.
//
// Correctness: the cosine of every ORT embedding to ours; the script
// exits 1 when the smallest is below --min-cos (a peer that computes
// something else is not a peer).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const { onnx } = require('onnx-proto');

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const INT32 = onnx.TensorProto.DataType.INT32;
const ATTR = onnx.AttributeProto.AttributeType;

function die(msg) {
  console.error(`ort_embed: ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    threads: [1, 2], runs: 1, batch: 32, minCos: 0.9999, graphs: ['export', 'fused'],
    model: null, ids: null, emb: null, saveOnnx: null, showFusions: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--show-fusions') { o.showFusions = true; continue; }
    const v = argv[++i];
    if (v === undefined) die(`${a} needs a value`);
    const int = () => {
      if (!/^[1-9][0-9]*$/.test(v)) die(`bad number '${v}' for ${a}`);
      return Number(v);
    };
    switch (a) {
      case '--model': o.model = v; break;
      case '--ids': o.ids = v; break;
      case '--emb': o.emb = v; break;
      case '--runs': o.runs = int(); break;
      case '--batch-size': o.batch = int(); break;
      case '--min-cos': o.minCos = Number(v); break;
      case '--save-onnx': o.saveOnnx = v; break;
      case '--graph':
        o.graphs = v.split(',');
        for (const g of o.graphs) {
          if (g !== 'export' && g !== 'fused') die(`unknown graph '${g}'`);
        }
        break;
      case '--threads':
        o.threads = v.split(',').map((t) => {
          if (!/^[1-9][0-9]*$/.test(t)) die(`bad thread count '${t}'`);
          return Number(t);
        });
        break;
      default: die(`unknown option ${a}`);
    }
  }
  if (!o.model || !o.ids || !o.emb) {
    die('usage: ort_embed.mjs --model DIR --ids IDS.jsonl --emb EMB.jsonl '
        + '[--graph export,fused] [--threads 1,2] [--runs N] [--batch-size N] '
        + '[--min-cos X] [--save-onnx PREFIX] [--show-fusions]');
  }
  return o;
}

// --- safetensors: u64 LE header length, JSON header, raw LE data --------

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// Returns Map name -> { shape, data: Float32Array } (F16 and BF16 are
// widened to float32, as src/embed/safetensors.c does).
function readSafetensors(path) {
  const buf = readFileSync(path);
  if (buf.length < 8) die(`${path}: too short`);
  const hlen = Number(buf.readBigUInt64LE(0));
  if (8 + hlen > buf.length) die(`${path}: header length past the end`);
  const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen));
  const base = 8 + hlen, out = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, e] = t.data_offsets, count = t.shape.reduce((x, y) => x * y, 1);
    const size = { F32: 4, F16: 2, BF16: 2 }[t.dtype];
    if (!size) continue; // not a weight the encoder uses
    if (e - b !== count * size || base + e > buf.length) {
      die(`${path}: tensor '${name}': bad data_offsets`);
    }
    const bytes = buf.subarray(base + b, base + e);
    const data = new Float32Array(count);
    if (t.dtype === 'F32') {
      // copy: the tensor need not be 4-byte aligned in the file
      new Uint8Array(data.buffer).set(bytes);
    } else {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      const f = new Float32Array(1), u = new Uint32Array(f.buffer);
      for (let i = 0; i < count; i++) {
        const h = dv.getUint16(2 * i, true);
        if (t.dtype === 'F16') {
          data[i] = halfToFloat(h);
        } else {
          u[0] = h << 16;
          data[i] = f[0];
        }
      }
    }
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

function loadModel(dir) {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const st = readSafetensors(join(dir, 'model.safetensors'));
  const H = cfg.hidden_size, I = cfg.intermediate_size;
  const get = (name, shape) => {
    const t = st.get(name) ?? st.get(`bert.${name}`);
    if (!t) die(`${dir}/model.safetensors: missing tensor '${name}'`);
    if (t.shape.join() !== shape.join()) {
      die(`${name}: shape [${t.shape}], expected [${shape}]`);
    }
    return t.data;
  };
  const ln = (prefix) => {
    const has = (n) => st.has(n) || st.has(`bert.${n}`);
    const g = has(`${prefix}.weight`) || !has(`${prefix}.gamma`)
      ? `${prefix}.weight` : `${prefix}.gamma`;
    const b = has(`${prefix}.bias`) || !has(`${prefix}.beta`)
      ? `${prefix}.bias` : `${prefix}.beta`;
    return { g: get(g, [H]), b: get(b, [H]) };
  };
  if (cfg.hidden_act !== 'gelu') die(`hidden_act ${cfg.hidden_act}: only gelu`);
  const m = {
    cfg, H, I,
    L: cfg.num_hidden_layers,
    heads: cfg.num_attention_heads,
    eps: cfg.layer_norm_eps,
    word: get('embeddings.word_embeddings.weight', [cfg.vocab_size, H]),
    pos: get('embeddings.position_embeddings.weight',
      [cfg.max_position_embeddings, H]),
    type: get('embeddings.token_type_embeddings.weight',
      [cfg.type_vocab_size, H]),
    embLn: ln('embeddings.LayerNorm'),
    layers: [],
  };
  for (let l = 0; l < m.L; l++) {
    const p = `encoder.layer.${l}`;
    const lin = (name, out, inp) => ({
      w: get(`${p}.${name}.weight`, [out, inp]),
      b: get(`${p}.${name}.bias`, [out]),
      out, inp,
    });
    m.layers.push({
      q: lin('attention.self.query', H, H),
      k: lin('attention.self.key', H, H),
      v: lin('attention.self.value', H, H),
      o: lin('attention.output.dense', H, H),
      attnLn: ln(`${p}.attention.output.LayerNorm`),
      ffnIn: lin('intermediate.dense', I, H),
      ffnOut: lin('output.dense', H, I),
      outLn: ln(`${p}.output.LayerNorm`),
    });
  }
  return m;
}

// --- the ONNX graph -------------------------------------------------------

function buildOnnx(m, graph) {
  const nodes = [], inits = [];
  let uid = 0;

  const f32 = (name, dims, arr) => {
    const a = arr instanceof Float32Array ? arr : Float32Array.from(arr);
    inits.push({
      name, dims, dataType: FLOAT,
      rawData: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    });
    return name;
  };
  const i64 = (name, vals) => {
    const a = BigInt64Array.from(vals.map(BigInt));
    inits.push({
      name, dims: [vals.length], dataType: INT64,
      rawData: new Uint8Array(a.buffer),
    });
    return name;
  };
  const attr = (name, v) => {
    if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
    if (Number.isInteger(v) && name !== 'epsilon') {
      return { name, type: ATTR.INT, i: v };
    }
    return { name, type: ATTR.FLOAT, f: v };
  };
  const op = (type, inputs, attrs = {}, domain = '') => {
    const out = `${type}_${uid++}`;
    nodes.push({
      name: out, opType: type, input: inputs, output: [out], domain,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return out;
  };
  const ms = (type, inputs, attrs) => op(type, inputs, attrs, 'com.microsoft');
  // PyTorch Linear weights are [out, in]; MatMul wants [in, out]
  const transposed = (lin) => {
    const t = new Float32Array(lin.w.length);
    for (let o = 0; o < lin.out; o++) {
      for (let i = 0; i < lin.inp; i++) t[i * lin.out + o] = lin.w[o * lin.inp + i];
    }
    return t;
  };
  const matmul = (x, lin, name) => op('MatMul',
    [x, f32(`${name}.wT`, [lin.inp, lin.out], transposed(lin))]);
  const linear = (x, lin, name) => op('Add', [matmul(x, lin, name),
    f32(`${name}.b`, [lin.out], lin.b)]);
  const skipLayerNorm = (x, skip, p, bias, name) => ms('SkipLayerNormalization',
    [x, skip, f32(`${name}.g`, [m.H], p.g), f32(`${name}.b`, [m.H], p.b),
      f32(`${name}.bias`, [m.H], bias)], { epsilon: m.eps });
  const layerNorm = (x, p, name) => op('LayerNormalization',
    [x, f32(`${name}.g`, [m.H], p.g), f32(`${name}.b`, [m.H], p.b)],
    { axis: -1, epsilon: m.eps });

  const H = m.H, nh = m.heads, dh = H / nh;
  f32('tiny_count', [], [1e-9]);
  f32('tiny_norm', [], [1e-12]);
  i64('zero1', [0]);
  i64('ax0', [0]);
  i64('ax1', [1]);
  i64('ax2', [2]);
  if (graph !== 'fused') {
    f32('one', [], [1]);
    f32('half', [], [0.5]);
    f32('sqrt2', [], [Math.SQRT2]);
    f32('sqrt_dh', [], [Math.sqrt(dh)]);
    f32('mask_neg', [], [-10000]);
    i64('heads_shape', [0, 0, nh, dh]);
    i64('hidden_shape', [0, 0, H]);
  }

  // embeddings: word + token type 0 + position (as encoder.c adds them)
  const seqLen = op('Shape', ['input_ids'], { start: 1, end: 2 });
  const pos = op('Slice', [f32('pos_emb', [m.pos.length / H, H], m.pos),
    'zero1', seqLen, 'ax0']);
  const word = op('Gather', [f32('word_emb', [m.word.length / H, H], m.word),
    'input_ids'], { axis: 0 });
  let x = op('Add', [op('Add', [word, f32('type0_emb', [H], m.type.subarray(0, H))]),
    pos]);
  x = layerNorm(x, m.embLn, 'emb_ln');

  // (1 - mask) * -10000 over [B, 1, 1, S], as BertModel's export spells
  // it: padding gets exp(-10000 + ...) = 0 in float
  const mask4 = graph === 'fused' ? null : op('Cast', [op('Unsqueeze',
    [op('Unsqueeze', ['attention_mask', 'ax1']), 'ax2'])], { to: FLOAT });
  const bias = graph === 'fused' ? null : op('Mul', [op('Sub', ['one', mask4]), 'mask_neg']);
  const maskF = op('Cast', ['attention_mask'], { to: FLOAT });

  // fused: what onnxruntime.transformers.optimizer makes of an exported
  // BERT (Attention with packed Q|K|V weights and the mask as lengths,
  // SkipLayerNormalization, BiasGelu; contrib ops of com.microsoft)
  const maskIndex = graph === 'fused'
    ? op('ReduceSum', [op('Cast', ['attention_mask'], { to: INT32 }), 'ax1'],
      { keepdims: 0 })
    : null;
  const fusedLayer = (ly, p) => {
    const qkvW = new Float32Array(H * 3 * H), qkvB = new Float32Array(3 * H);
    [ly.q, ly.k, ly.v].forEach((lin, j) => {
      const t = transposed(lin);
      for (let i = 0; i < H; i++) qkvW.set(t.subarray(i * H, (i + 1) * H), i * 3 * H + j * H);
      qkvB.set(lin.b, j * H);
    });
    const ctx = ms('Attention', [x, f32(`${p}.qkv.w`, [H, 3 * H], qkvW),
      f32(`${p}.qkv.b`, [3 * H], qkvB), maskIndex], { num_heads: nh });
    x = skipLayerNorm(matmul(ctx, ly.o, `${p}.o`), x, ly.attnLn, ly.o.b, `${p}.attn_ln`);
    const h = ms('BiasGelu', [matmul(x, ly.ffnIn, `${p}.ffn_in`),
      f32(`${p}.ffn_in.b`, [m.I], ly.ffnIn.b)]);
    x = skipLayerNorm(matmul(h, ly.ffnOut, `${p}.ffn_out`), x, ly.outLn, ly.ffnOut.b,
      `${p}.out_ln`);
  };

  m.layers.forEach((ly, l) => {
    const p = `layer${l}`;
    if (graph === 'fused') {
      fusedLayer(ly, p);
      return;
    }
    const heads = (t, perm) => op('Transpose', [op('Reshape', [t, 'heads_shape'])],
      { perm });
    const q = heads(linear(x, ly.q, `${p}.q`), [0, 2, 1, 3]);
    const k = heads(linear(x, ly.k, `${p}.k`), [0, 2, 3, 1]);
    const v = heads(linear(x, ly.v, `${p}.v`), [0, 2, 1, 3]);
    const scores = op('Add', [op('Div', [op('MatMul', [q, k]), 'sqrt_dh']), bias]);
    const probs = op('Softmax', [scores], { axis: -1 });
    const ctx = op('Reshape', [op('Transpose', [op('MatMul', [probs, v])],
      { perm: [0, 2, 1, 3] }), 'hidden_shape']);
    const attn = linear(ctx, ly.o, `${p}.o`);
    x = layerNorm(op('Add', [attn, x]), ly.attnLn, `${p}.attn_ln`);
    const h = linear(x, ly.ffnIn, `${p}.ffn_in`);
    const gelu = op('Mul', [op('Mul', [h, op('Add', [op('Erf', [op('Div', [h, 'sqrt2'])]),
      'one'])]), 'half']);
    x = layerNorm(op('Add', [linear(gelu, ly.ffnOut, `${p}.ffn_out`), x]), ly.outLn,
      `${p}.out_ln`);
  });

  // mean over the unpadded tokens, then x / max(||x||, 1e-12)
  const mask3 = op('Unsqueeze', [maskF, 'ax2']);
  const sum = op('ReduceSum', [op('Mul', [x, mask3]), 'ax1'], { keepdims: 0 });
  const count = op('Max', [op('ReduceSum', [mask3, 'ax1'], { keepdims: 0 }),
    'tiny_count']);
  const mean = op('Div', [sum, count]);
  const norm = op('Max', [op('ReduceL2', [mean], { axes: [1], keepdims: 1 }),
    'tiny_norm']);
  nodes.push({ name: 'l2norm', opType: 'Div', input: [mean, norm],
    output: ['embeddings'] });

  const tensorType = (elemType, dims) => ({
    tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimParam: d })) } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    producerName: 'driftmon bench/peer/ort_embed.mjs',
    graph: {
      name: 'bert_mean_pool',
      node: nodes,
      initializer: inits,
      input: [
        { name: 'input_ids', type: tensorType(INT64, ['batch', 'seq']) },
        { name: 'attention_mask', type: tensorType(INT64, ['batch', 'seq']) },
      ],
      output: [{ name: 'embeddings', type: tensorType(FLOAT, ['batch', 'hidden']) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

// --- inputs, batches, timing ----------------------------------------------

function readJsonl(path) {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.length)
    .map((l) => JSON.parse(l));
}

function padId(dir) {
  const i = readFileSync(join(dir, 'vocab.txt'), 'utf8').split('\n')
    .findIndex((t) => t.trim() === '[PAD]');
  return i < 0 ? 0 : i;
}

// Longest first, ties in corpus order (as encoder.c sorts).
function planBatches(ids, batch) {
  const order = ids.map((t, i) => i)
    .sort((a, b) => ids[b].length - ids[a].length || a - b);
  const out = [];
  for (let s = 0; s < order.length; s += batch) out.push(order.slice(s, s + batch));
  return out;
}

async function embedAll(session, ids, batches, pad, H) {
  const out = new Array(ids.length);
  for (const b of batches) {
    const S = ids[b[0]].length, B = b.length;
    const inIds = new BigInt64Array(B * S).fill(BigInt(pad));
    const mask = new BigInt64Array(B * S);
    b.forEach((idx, r) => {
      const t = ids[idx];
      for (let j = 0; j < t.length; j++) {
        inIds[r * S + j] = BigInt(t[j]);
        mask[r * S + j] = 1n;
      }
    });
    const res = await session.run({
      input_ids: new ort.Tensor('int64', inIds, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
    });
    const e = res.embeddings.data;
    b.forEach((idx, r) => { out[idx] = e.slice(r * H, (r + 1) * H); });
  }
  return out;
}

function compare(a, b) {
  let min = Infinity, sum = 0, argmin = -1, maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    let d = 0, na = 0, nb = 0;
    if (a[i].length !== b[i].length) die(`text ${i}: dimension differs`);
    for (let j = 0; j < a[i].length; j++) {
      d += a[i][j] * b[i][j];
      na += a[i][j] * a[i][j];
      nb += b[i][j] * b[i][j];
      maxDiff = Math.max(maxDiff, Math.abs(a[i][j] - b[i][j]));
    }
    const c = d / Math.sqrt(na * nb);
    sum += c;
    if (!(c >= min)) { min = c; argmin = i; }
  }
  return { min, mean: sum / a.length, argmin, maxDiff };
}

async function showFusions(bytes, opts) {
  const dir = mkdtempSync(join(tmpdir(), 'ort-peer-'));
  const path = join(dir, 'optimized.onnx');
  try {
    const s = await ort.InferenceSession.create(bytes,
      { ...opts, optimizedModelFilePath: path });
    await s.release();
    const g = onnx.ModelProto.decode(readFileSync(path)).graph;
    const counts = {};
    for (const n of g.node) {
      const k = n.domain ? `${n.domain}:${n.opType}` : n.opType;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    console.log('ORT optimised graph (level all): '
      + Object.entries(counts).sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} x${v}`).join(', '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Times one graph at every thread count; returns false when its
// embeddings are not ours.
async function runGraph(o, m, graph, input) {
  const { ids, ours, batches, pad, tokens, gflop } = input;
  let t0 = performance.now(), ok = true;
  const bytes = buildOnnx(m, graph);
  console.log(`graph '${graph}': ONNX opset 17${graph === 'fused' ? ' + com.microsoft' : ''}, `
    + `${(bytes.length / 1048576).toFixed(1)} MiB, built in `
    + `${((performance.now() - t0) / 1000).toFixed(2)} s`);
  if (o.saveOnnx) writeFileSync(`${o.saveOnnx}.${graph}.onnx`, bytes);
  for (const threads of o.threads) {
    const opts = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    };
    if (o.showFusions && threads === o.threads[0]) await showFusions(bytes, opts);
    t0 = performance.now();
    const session = await ort.InferenceSession.create(bytes, opts);
    const load = (performance.now() - t0) / 1000;
    let best = Infinity, embs = null;
    for (let r = 0; r < o.runs; r++) {
      t0 = performance.now();
      embs = await embedAll(session, ids, batches, pad, m.H);
      const t = (performance.now() - t0) / 1000;
      if (t < best) best = t;
    }
    await session.release();
    const c = compare(embs, ours);
    console.log(`ORT ${graph} threads ${threads}, batch ${o.batch}: ${best.toFixed(2)} s, `
      + `${(ids.length / best).toFixed(1)} sentences/s, `
      + `${(tokens / best).toFixed(0)} tokens/s, ${(gflop / best).toFixed(1)} GFLOP/s `
      + `(session ${load.toFixed(2)} s)`);
    console.log(`  cosine to bench_embed's embeddings: min ${c.min.toFixed(9)} `
      + `(text ${c.argmin}; 1 - cos = ${(1 - c.min).toExponential(1)}), `
      + `mean ${c.mean.toFixed(9)} (1 - cos = ${(1 - c.mean).toExponential(1)}); `
      + `largest component difference ${c.maxDiff.toExponential(1)}`);
    if (!(c.min > o.minCos)) {
      console.error(`ort_embed: ${graph}: cosine ${c.min} <= ${o.minCos}: ORT does `
        + 'not compute what bench_embed computes');
      ok = false;
    }
  }
  return ok;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (endianness() !== 'LE') die('little-endian hosts only');
  console.log(`peer: ONNX Runtime ${ort.env.versions.node} (onnxruntime-node), `
    + 'fp32, CPU execution provider');
  const t0 = performance.now();
  const m = loadModel(o.model);
  console.log(`model: ${o.model} (hidden ${m.H}, ${m.L} layers, ${m.heads} heads, `
    + `intermediate ${m.I}), read in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  const ids = readJsonl(o.ids), ours = readJsonl(o.emb);
  if (ids.length !== ours.length) {
    die(`${o.ids} has ${ids.length} lines, ${o.emb} ${ours.length}`);
  }
  let tokens = 0, gflop = 0;
  for (const t of ids) {
    const n = t.length;
    tokens += n;
    gflop += m.L * (8 * n * m.H * m.H + 4 * n * m.H * m.I + 4 * n * n * m.H) * 1e-9;
  }
  const batches = planBatches(ids, o.batch);
  let padded = 0;
  for (const b of batches) padded += b.length * ids[b[0]].length;
  console.log(`corpus: ${ids.length} texts, ${tokens} tokens (${padded} with padding `
    + `in batches of ${o.batch}), ${(gflop / 1000).toFixed(2)} TFLOP float32 `
    + '(bench_embed\'s count)');

  const input = { ids, ours, batches, pad: padId(o.model), tokens, gflop };
  let ok = true;
  for (const graph of o.graphs) ok = (await runGraph(o, m, graph, input)) && ok;
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(`ort_embed: ${e.stack ?? e}`);
  process.exit(2);
});
