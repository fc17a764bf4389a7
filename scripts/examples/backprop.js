#!/usr/bin/env node
// A correct backprop for a fully connected network in plain JavaScript (Node, no dependencies),
// speaking the protocol bp-oracle/1: one JSON request per line of stdin, one JSON response per
// line of stdout, in order; logs go to stderr; exit 0 at the end of stdin.
//
//     node scripts/examples/backprop.js
//
// Answers grads, cost and deltas. Matrices are arrays of rows and the batch is walked one example
// at a time: for each example x, feed forward, then BP1 at the output layer and BP2 back through
// the hidden layers; BP3 and BP4 add δ and δ a^{l−1}ᵀ to running sums that are divided by m at
// the end (the cost is the batch mean). Notation as in Nielsen ch. 2 and bp-oracle's docs/conventions.md.
"use strict";

const readline = require("readline");

const PROTOCOL = "bp-oracle/1";

class Unsupported extends Error {}

// --- activations: sigma(z) and its derivative, one number at a time ----------------------------

function sigmoid(z) {
  const e = Math.exp(-Math.abs(z)); // never overflows
  return z >= 0 ? 1 / (1 + e) : e / (1 + e);
}

function softplus(z) {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

const ELEMENTWISE = {
  sigmoid: { f: sigmoid, prime: (z) => sigmoid(z) * sigmoid(-z) }, // a(1 − a) without cancelling
  tanh: { f: Math.tanh, prime: (z) => 1 / Math.cosh(z) ** 2 }, // sech² = 1 − tanh²
  relu: { f: (z) => Math.max(z, 0), prime: (z) => (z > 0 ? 1 : 0) }, // relu'(0) = 0
  leaky_relu: { f: (z) => (z >= 0 ? z : 0.01 * z), prime: (z) => (z >= 0 ? 1 : 0.01) }, // '(0) = 1
  elu: { f: (z) => (z > 0 ? z : Math.expm1(z)), prime: (z) => (z > 0 ? 1 : Math.exp(z)) }, // α = 1
  softplus: { f: softplus, prime: sigmoid },
  identity: { f: (z) => z, prime: () => 1 },
};

// softmax over one example's layer, with the pieces the costs need to stay accurate near a_j = 1:
// e = e^{z − max z}, S = Σ e, others_j = Σ_{i≠j} e_i summed directly (S − e_j would cancel), so
// a = e/S and 1 − a = others/S.
function softmaxParts(z) {
  const top = Math.max(...z);
  const e = z.map((zj) => Math.exp(zj - top));
  const S = e.reduce((s, v) => s + v, 0);
  const others = e.map((_, j) => e.reduce((s, v, i) => (i === j ? s : s + v), 0));
  return { e, S, others };
}

function sigma(name, z) {
  if (name === "softmax") {
    const { e, S } = softmaxParts(z);
    return e.map((v) => v / S);
  }
  return z.map(ELEMENTWISE[name].f);
}

// J_σ(z)ᵀ g: g ⊙ σ'(z) for an elementwise σ; softmax's J = diag(a) − a aᵀ gives a ⊙ (g − a·g).
function pullBackThroughSigma(name, z, a, g) {
  if (name === "softmax") {
    const ag = dot(a, g);
    return a.map((aj, j) => aj * (g[j] - ag));
  }
  const prime = ELEMENTWISE[name].prime;
  return g.map((gj, j) => gj * prime(z[j]));
}

// --- costs -------------------------------------------------------------------------------------

// [ln a_j, ln(1 − a_j)] from z where σ allows it, so a saturated output keeps a finite cost.
function logOutput(name, z, a) {
  if (name === "sigmoid") return [z.map((v) => -softplus(-v)), z.map((v) => -softplus(v))];
  if (name === "softmax") {
    const { S, others } = softmaxParts(z);
    const top = Math.max(...z);
    const logS = Math.log(S);
    return [z.map((v) => v - top - logS), others.map((o) => Math.log(o) - logS)];
  }
  return [a.map(Math.log), a.map((v) => Math.log1p(-v))];
}

const yLog = (y, logA) => (y === 0 ? 0 : y * logA); // 0 ln 0 = 0
const over = (y, a) => (y === 0 ? 0 : y / a); // the gradient of that term, 0 where y = 0

const COSTS = {
  quadratic: {
    value: (z, a, y) => 0.5 * a.reduce((s, aj, j) => s + (aj - y[j]) ** 2, 0),
    gradA: (a, y) => a.map((aj, j) => aj - y[j]),
  },
  cross_entropy: {
    value: (z, a, y, name) => {
      const [logA, log1mA] = logOutput(name, z, a);
      return -y.reduce((s, yj, j) => s + yLog(yj, logA[j]) + yLog(1 - yj, log1mA[j]), 0);
    },
    gradA: (a, y) => a.map((aj, j) => over(1 - y[j], 1 - aj) - over(y[j], aj)),
  },
  log_likelihood: {
    value: (z, a, y, name) => {
      const [logA] = logOutput(name, z, a);
      return -y.reduce((s, yj, j) => s + yLog(yj, logA[j]), 0);
    },
    gradA: (a, y) => a.map((aj, j) => -over(y[j], aj)),
  },
};

// δ^L for cross-entropy on softmax from z: with h_j = a_j ∂C/∂a_j = (1 − y_j) a_j/(1 − a_j) − y_j,
// δ_k = h_k − a_k Σ_j h_j = (1 − y_k) a_k − y_k (1 − a_k) − Σ_{j≠k} a_k h_j, and
// a_k a_j/(1 − a_j) = (e_k/others_j) a_j, a ratio ≤ 1: nothing huge is formed and cancelled.
function crossEntropySoftmaxDelta(z, a, y) {
  const { e, S, others } = softmaxParts(z);
  return a.map((ak, k) => {
    let sum = (1 - y[k]) * ak - y[k] * (others[k] / S);
    for (let j = 0; j < a.length; j++) {
      if (j !== k) sum -= (e[k] / others[j]) * (1 - y[j]) * a[j] - ak * y[j];
    }
    return sum;
  });
}

// Where C_x is a log of the output, ∇_a C has a 1/a (or 1/(1 − a)) that σ' cancels; multiplying
// them in floating point loses digits once σ saturates, so δ^L is written from z directly.
const OUTPUT_DELTA_FROM_Z = {
  "cross_entropy/sigmoid": (z, a, y) => a.map((aj, j) => aj - y[j]),
  "cross_entropy/softmax": crossEntropySoftmaxDelta,
  "log_likelihood/softmax": (z, a, y) => {
    const total = y.reduce((s, v) => s + v, 0);
    return a.map((aj, j) => aj * total - y[j]);
  },
  "log_likelihood/sigmoid": (z, a, y) => z.map((zj, j) => -y[j] * sigmoid(-zj)), // y(a − 1)
};

// --- linear algebra on arrays of rows ------------------------------------------------------------

const dot = (u, v) => u.reduce((s, ui, i) => s + ui * v[i], 0);
const matVec = (W, v) => W.map((row) => dot(row, v)); // W v
const matTVec = (W, v) => W[0].map((_, k) => W.reduce((s, row, j) => s + row[k] * v[j], 0)); // Wᵀ v
const zerosLike = (W) => W.map((row) => row.map(() => 0));

// --- backprop ----------------------------------------------------------------------------------

// BP1: δ^L = ∂C_x/∂z^L for one example.
function outputError(cost, name, z, a, y) {
  const fromZ = OUTPUT_DELTA_FROM_Z[`${cost}/${name}`];
  if (fromZ) return fromZ(z, a, y);
  return pullBackThroughSigma(name, z, a, COSTS[cost].gradA(a, y));
}

// BP2: δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l).
function backpropagateError(name, WNext, deltaNext, z, a) {
  return pullBackThroughSigma(name, z, a, matTVec(WNext, deltaNext));
}

// Returns { cost, deltas, grads }: deltas[l][x] is δ^{x,l+1}; grads[l] = { W, b } for layer l + 1.
function backprop(net, params, xs, ys) {
  const { activations: names, cost, l2, l1 } = net;
  const L = params.length;
  const m = xs.length;
  const nablaW = params.map(({ W }) => zerosLike(W));
  const nablaB = params.map(({ b }) => b.map(() => 0));
  const deltas = params.map(() => []);
  let C = 0;

  xs.forEach((x, ex) => {
    // feedforward, keeping every z^l and a^l (activations[0] is the input)
    const zs = [];
    const activations = [x];
    params.forEach(({ W, b }, l) => {
      const z = matVec(W, activations[l]).map((v, j) => v + b[j]);
      zs.push(z);
      activations.push(sigma(names[l], z));
    });
    C += COSTS[cost].value(zs[L - 1], activations[L], ys[ex], names[L - 1]);

    // BP1 at the output, BP2 back through the hidden layers
    let delta = outputError(cost, names[L - 1], zs[L - 1], activations[L], ys[ex]);
    for (let l = L - 1; l >= 0; l--) {
      if (l < L - 1) delta = backpropagateError(names[l], params[l + 1].W, delta, zs[l], activations[l + 1]);
      deltas[l].push(delta);
      // BP3: ∂C_x/∂b^l_j = δ^l_j;  BP4: ∂C_x/∂w^l_jk = a^{l−1}_k δ^l_j
      delta.forEach((dj, j) => {
        nablaB[l][j] += dj;
        activations[l].forEach((ak, k) => { nablaW[l][j][k] += ak * dj; });
      });
    }
  });

  // C = (1/m) Σ_x C_x + (l2/2) Σ ‖W‖² + l1 Σ |w|; biases are not regularised, d|w|/dw = +1 at 0
  C /= m;
  const grads = params.map(({ W }, l) => {
    W.forEach((row) => row.forEach((w) => { C += 0.5 * l2 * w * w + l1 * Math.abs(w); }));
    return {
      W: nablaW[l].map((row, j) => row.map((s, k) => s / m + l2 * W[j][k] + l1 * (W[j][k] >= 0 ? 1 : -1))),
      b: nablaB[l].map((s) => s / m),
    };
  });
  return { cost: C, deltas, grads };
}

// --- the protocol ------------------------------------------------------------------------------

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

// A JSON array of `shape` (e.g. [3, 2] or [3]) of finite numbers, or an Error saying what is wrong.
function checkArray(value, shape, what) {
  const describe = shape.length === 2 ? `${shape[0]} row(s) of ${shape[1]} number(s)` : `${shape[0]} number(s)`;
  const fail = () => { throw new Error(`${what} must be ${describe}`); };
  if (!Array.isArray(value) || value.length !== shape[0]) fail();
  for (const item of value) {
    if (shape.length === 2) {
      if (!Array.isArray(item) || item.length !== shape[1] || !item.every(isNumber)) fail();
    } else if (!isNumber(item)) fail();
  }
  return value;
}

function parseNetwork(spec) {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) throw new Error("network must be an object");
  const { sizes, cost } = spec;
  if (!Array.isArray(sizes) || sizes.length < 2 || !sizes.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`network.sizes must be a list of at least 2 positive integers, got ${JSON.stringify(sizes)}`);
  }
  const L = sizes.length - 1;
  const names = typeof spec.activations === "string" ? Array(L).fill(spec.activations) : spec.activations;
  if (!Array.isArray(names) || names.length !== L || !names.every((n) => typeof n === "string")) {
    throw new Error(`network.activations must be a list of ${L} names`);
  }
  if (typeof cost !== "string") throw new Error("network.cost must be a name");
  for (const name of names) {
    if (!(name in ELEMENTWISE) && name !== "softmax") throw new Unsupported(`activation '${name}' not implemented`);
  }
  if (!(cost in COSTS)) throw new Unsupported(`cost '${cost}' not implemented`);
  if (names.slice(0, -1).includes("softmax")) throw new Error("softmax is allowed only on the output layer");
  if (names[L - 1] === "softmax" && sizes[L] < 2) throw new Error("softmax needs at least 2 output neurons");
  if (cost !== "quadratic" && !["sigmoid", "softmax"].includes(names[L - 1])) {
    throw new Error(`${cost} needs a sigmoid or softmax output layer, got ${names[L - 1]}`);
  }
  const net = { sizes, activations: names, cost };
  for (const key of ["l2", "l1"]) {
    const value = spec[key] === undefined ? 0 : spec[key];
    if (!isNumber(value) || value < 0) throw new Error(`network.${key} must be a finite number ≥ 0`);
    net[key] = value;
  }
  return net;
}

function parseRequest(req) {
  if (req.protocol !== PROTOCOL) throw new Error(`protocol must be '${PROTOCOL}', got ${JSON.stringify(req.protocol)}`);
  const net = parseNetwork(req.network);
  const dtype = req.dtype === undefined ? "float64" : req.dtype;
  if (dtype !== "float64" && dtype !== "float32") throw new Unsupported(`dtype '${dtype}' not implemented`);
  const { sizes } = net;
  if (!Array.isArray(req.params) || req.params.length !== sizes.length - 1) {
    throw new Error(`params must be a list of ${sizes.length - 1} layers`);
  }
  const params = req.params.map((layer, l) => {
    if (layer === null || typeof layer !== "object") throw new Error(`params[${l}] must be an object with W and b`);
    return {
      W: checkArray(layer.W, [sizes[l + 1], sizes[l]], `W of layer ${l + 1}`),
      b: checkArray(layer.b, [sizes[l + 1]], `b of layer ${l + 1}`),
    };
  });
  if (!Array.isArray(req.x) || req.x.length === 0) throw new Error("x must be a non-empty list of rows");
  const x = checkArray(req.x, [req.x.length, sizes[0]], "x"); // one row per example
  const y = checkArray(req.y, [x.length, sizes[sizes.length - 1]], "y");
  return { net, params, x, y, dtype };
}

// Nested arrays with every number passed through f; throws if any is not finite.
function mapNumbers(value, f) {
  if (Array.isArray(value)) return value.map((v) => mapNumbers(v, f));
  if (!Number.isFinite(value)) throw new Error("the result is not finite (overflow?)");
  return f(value);
}

function answer(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return { id: null, error: `request is not JSON: ${e.message}` };
  }
  if (req === null || typeof req !== "object" || Array.isArray(req)) return { id: null, error: "request must be a JSON object" };
  const id = req.id === undefined ? null : req.id;
  try {
    const { net, params, x, y, dtype } = parseRequest(req);
    const { cost, deltas, grads } = backprop(net, params, x, y);
    // float32 requests: computed in double, answered as float32 values
    const round = dtype === "float32" ? Math.fround : (v) => v;
    return {
      id,
      grads: grads.map(({ W, b }) => ({ W: mapNumbers(W, round), b: mapNumbers(b, round) })),
      cost: mapNumbers(cost, round),
      deltas: mapNumbers(deltas, round),
    };
  } catch (e) {
    return e instanceof Unsupported ? { id, unsupported: e.message } : { id, error: e.message };
  }
}

process.stdout.on("error", (e) => { if (e.code === "EPIPE") process.exit(0); else throw e; });
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.trim() === "") return; // a blank line is not a request
  process.stdout.write(JSON.stringify(answer(line)) + "\n");
});
