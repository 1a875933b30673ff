"""JAX adapter: exact M-products, a ready GD loop and a per-step recorder for JAX models.

Float64 is switched on at import (``jax_enable_x64``): the format and its checks are float64.

Two ways to get M(t) = (2/n) J Jᵀ:

* general (any architecture): ``gram_matmat(apply_fn, X)`` multiplies M by a block of vectors with
  one batched ``vjp`` (Jᵀ v) and one batched ``jvp`` (J u) per block, never forming J;
* MLP (``MLP``): M is formed exactly from the per-layer kernels,
  M = Σ_l (2/n) (Δ_l Δ_lᵀ) ∘ (H_{l−1} H_{l−1}ᵀ + 1 for the bias), with Δ_l the back-propagated
  signals ∂f/∂z_l and H_{l−1} the layer inputs (the paper's per-example kernel identity); it costs
  O(n² Σ widths), about one GD step, and the block eigensolver then runs on an n×n matrix.
  MLP recordings store ``{"kind": "mlp", ...}`` and θ in eostrace's layout (layer by layer, W_l
  row-major [out, in] then b_l), so ``eostrace analyze --verify-replay`` can replay them.

    import eostrace.jax as ej
    net = ej.MLP(input_dim=784, widths=[100, 100], activation="tanh")
    theta = net.init(seed=0)
    theta = ej.train(net, theta, X, Y, lr=0.02, steps=1000, path="run.h5", k=8)

    # c outputs (format 2.0): Y [n, c], MLP(..., outputs=c) or any apply_fn -> [n, c]; M over vec(F)
    net10 = ej.MLP(input_dim=784, widths=[200, 200], activation="tanh", outputs=10)
    ej.train(net10, net10.init(0), X, Y10, lr=0.05, steps=500, path="run10.h5", k=8, eigenvectors_stored=2)

    # or inside your own loop (any apply_fn(params, X) -> [n] or [n, c]):
    with ej.JaxRecorder("run.h5", apply_fn, params, X, Y, lr=0.02, k=8) as rec:
        for t in range(T):
            info = rec.step(params)              # records step t at θ(t), returns the gradient
            params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, info["grad"])
"""

from __future__ import annotations

import json
import math
import time
from typing import Callable, Optional, Sequence

import numpy as np

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from . import format as _fmt
from .linalg import lanczos_top, top_eigenpairs
from .tracker import Tracker

jax.config.update("jax_enable_x64", True)

_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def _bucket(b: int) -> int:
    for s in _BUCKETS:
        if b <= s:
            return s
    return int(math.ceil(b / 256) * 256)


def _padded(fn: Callable, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """numpy matmat over a jitted jnp block function; pads widths to a few sizes so that
    jit compiles a handful of shapes, not one per block width."""
    def matmat(V: np.ndarray) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        b = V.shape[1]
        B = _bucket(b)
        if B != b:
            V = np.hstack([V, np.zeros((n, B - b))])
        return np.asarray(fn(jnp.asarray(V)))[:, :b]
    return matmat


# ---------------------------------------------------------------------------------------- general path

def gram_block_fn(apply_fn: Callable, X, masked: bool = False, scale: Optional[float] = None) -> Callable:
    """(params, V [n·c, b]) -> M V with M = (2/n) J Jᵀ, J = ∂vec(F)/∂θ, F = apply_fn(params, X)
    of shape [n] or [n, c] flattened sample-major (index i·c + a) (jitted; X is passed as an
    argument, never baked in as a constant XLA would fold). scale: the factor in place of 2/n
    (loss conventions: 1/n for half_mean_squared_error, 2/(n c) for mse_per_output).
    masked: (params, mask, V) -> (2/n) J (mask ∘ Jᵀ V), mask a pytree like params."""
    X = jnp.asarray(X)
    n = X.shape[0]
    factor = (2.0 / n) if scale is None else float(scale)

    def mv(params, X, V, mask=None):
        def F(p):
            return apply_fn(p, X).reshape(-1)
        _, vjp = jax.vjp(F, params)
        _, jvp = jax.linearize(F, params)
        G = jax.vmap(lambda v: vjp(v)[0], in_axes=1)(V)       # pytree with leading b axis: Jᵀ v
        if mask is not None:
            G = jax.tree_util.tree_map(lambda g, m: g * m, G, mask)
        return factor * jax.vmap(jvp, in_axes=0, out_axes=1)(G)
    if masked:
        jm = jax.jit(lambda params, X, mask, V: mv(params, X, V, mask))
        return lambda params, mask, V: jm(params, X, mask, V)
    j = jax.jit(mv)
    return lambda params, V: j(params, X, V)


def output_count(apply_fn: Callable, X, params) -> int:
    """c: 1 when apply_fn(params, X) has shape [n], c when [n, c] (by jax.eval_shape, no compute)."""
    shape = jax.eval_shape(apply_fn, params, jnp.asarray(X)).shape
    n = int(np.shape(X)[0])
    if len(shape) == 1 and shape[0] == n:
        return 1
    if len(shape) == 2 and shape[0] == n:
        return int(shape[1])
    raise ValueError(f"apply_fn(params, X) has shape {list(shape)}: expected [n] or [n, c] with n = {n}")


def gram_matmat(apply_fn: Callable, X, params, scale: Optional[float] = None) -> Callable[[np.ndarray], np.ndarray]:
    """numpy matmat for M(θ) at `params` (general path), over the n·c flattened outputs."""
    fn = gram_block_fn(apply_fn, X, scale=scale)
    return _padded(lambda V: fn(params, V), int(np.shape(X)[0]) * output_count(apply_fn, X, params))


def _loss_fn(apply_fn: Callable, Y, loss_convention: str = "mean_squared_error"):
    """(params, X, Y) -> (L, F) in the loss convention (F of Y's shape). One output and the default
    convention: L = mean((F − Y)²), exactly as before several outputs."""
    Y = np.asarray(Y)
    n = Y.shape[0]
    c = 1 if Y.ndim == 1 else Y.shape[1]
    if loss_convention not in _fmt.LOSS_CONVENTIONS:
        raise ValueError(f"/run@loss_convention: {loss_convention!r} is not one of {sorted(_fmt.LOSS_CONVENTIONS)}")
    factor = _fmt.LOSS_CONVENTIONS[loss_convention][0](n, c)
    if c == 1 and loss_convention == "mean_squared_error":
        def loss(p, X, Y):
            F = apply_fn(p, X).reshape(-1)
            return jnp.mean((F - Y) ** 2), F
    else:
        def loss(p, X, Y):
            F = apply_fn(p, X).reshape(Y.shape)
            return factor * jnp.sum((F - Y) ** 2), F
    return loss


def hvp_fn(apply_fn: Callable, X, Y, loss_convention: str = "mean_squared_error") -> Callable:
    """(params, v) -> ∇²L(params) v for L = ‖F − Y‖_F²/n (or the loss convention's L; Y [n] or
    [n, c]; v a pytree like params; jitted)."""
    X = jnp.asarray(X)
    Y = jnp.asarray(Y)
    Y = Y.reshape(-1) if Y.ndim == 1 else Y
    lf = _loss_fn(apply_fn, Y, loss_convention)

    def hvp(params, v, X, Y):
        def loss(p):
            return lf(p, X, Y)[0]
        return jax.jvp(jax.grad(loss), (params,), (v,))[1]
    j = jax.jit(hvp)
    return lambda params, v: j(params, v, X, Y)


def hessian_sharpness(apply_fn: Callable, X, Y, params, *, tol: float = 1e-10, maxiter: int = 100,
                      v0=None, _hvp=None, loss_convention: str = "mean_squared_error"):
    """λ_max of the loss Hessian at params by Lanczos on exact HVPs. Returns (value, vector, hvps)."""
    flat, unravel = ravel_pytree(params)
    hvp = _hvp or hvp_fn(apply_fn, X, Y, loss_convention)
    return lanczos_top(lambda v: np.asarray(ravel_pytree(hvp(params, unravel(jnp.asarray(v))))[0]),
                       flat.shape[0], v0=v0, tol=tol, maxiter=maxiter)


# ---------------------------------------------------------------------------------------- MLP path

_ACT = {
    "tanh": jnp.tanh,
    "linear": lambda x: x,
    "relu": lambda x: jnp.where(x > 0, x, 0.0),
    "sigmoid": jax.nn.sigmoid,
    "softplus": lambda x: jnp.where(x > 0, x + jnp.log1p(jnp.exp(-jnp.abs(x))), jnp.log1p(jnp.exp(x))),
    "elu": lambda x: jnp.where(x > 0, x, jnp.expm1(jnp.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * (1 + jnp.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))),
}


class MLP:
    """eostrace's MLP: f(x) = s·(A·h_L(x) + b), h_l = φ(W_l h_{l−1} + b_l); θ flat in eostrace's layout.

    outputs=c > 1: A is [c, m] (row-major in θ, then b [c]) and apply returns [n, c]; c = 1 returns [n]."""

    def __init__(self, input_dim: int, widths: Sequence[int], activation: str = "tanh", bias: bool = True,
                 output_scale: float = 1.0, outputs: int = 1):
        if activation not in _ACT:
            raise ValueError(f"MLP: activation {activation!r} not one of {sorted(_ACT)}")
        self.input_dim = int(input_dim)
        self.widths = [int(w) for w in widths]
        self.activation = activation
        self.bias = bool(bias)
        self.output_scale = float(output_scale)
        self.outputs = int(outputs)
        if self.outputs < 1:
            raise ValueError(f"MLP: outputs must be >= 1, got {outputs}")
        self.sizes = [self.input_dim] + self.widths + [self.outputs]
        self.offsets = []
        off = 0
        for l in range(len(self.sizes) - 1):
            w = off
            off += self.sizes[l + 1] * self.sizes[l]
            b = off
            if self.bias:
                off += self.sizes[l + 1]
            self.offsets.append((w, b))
        self.n_parameters = off
        self._phi = _ACT[activation]

    @classmethod
    def from_description(cls, desc, outputs: int = 1) -> "MLP":
        """From /run@model; outputs = /run@n_outputs (absent: 1)."""
        d = json.loads(desc) if isinstance(desc, (str, bytes)) else dict(desc)
        if d.get("kind") != "mlp":
            raise ValueError(f"MLP.from_description: kind {d.get('kind')!r} is not 'mlp'")
        return cls(d["input_dim"], d["widths"], d.get("activation", "tanh"), d.get("bias", True),
                   d.get("output_scale", 1.0), outputs=outputs)

    @property
    def description(self) -> dict:
        return {"kind": "mlp", "input_dim": self.input_dim, "widths": self.widths, "activation": self.activation,
                "bias": self.bias, "output_scale": self.output_scale}

    def init(self, seed: int = 0, scale: float = 1.0) -> np.ndarray:
        """Every weight and bias ~ U(−1/√fan_in, 1/√fan_in)·scale (PyTorch's nn.Linear default;
        numpy's generator, so not the Swift recorder's draws)."""
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.n_parameters)
        for l, (w, b) in enumerate(self.offsets):
            fan_in, out = self.sizes[l], self.sizes[l + 1]
            bound = scale / math.sqrt(fan_in)
            theta[w:w + out * fan_in] = rng.uniform(-bound, bound, out * fan_in)
            if self.bias:
                theta[b:b + out] = rng.uniform(-bound, bound, out)
        return theta

    def layers(self, theta):
        out = []
        for l, (w, b) in enumerate(self.offsets):
            fi, fo = self.sizes[l], self.sizes[l + 1]
            W = theta[w:w + fo * fi].reshape(fo, fi)
            bb = theta[b:b + fo] if self.bias else None
            out.append((W, bb))
        return out

    def apply(self, theta, X):
        h = X
        L = self.layers(theta)
        for W, b in L[:-1]:
            z = h @ W.T
            if b is not None:
                z = z + b
            h = self._phi(z)
        A, b = L[-1]
        if self.outputs > 1:
            f = h @ A.T
            if b is not None:
                f = f + b
            return self.output_scale * f
        f = h @ A[0]
        if b is not None:
            f = f + b[0]
        return self.output_scale * f

    __call__ = apply

    def output_weights(self, theta):
        """A (bias excluded): [m] for one output, the c·m entries of A [c, m] (row-major) for c."""
        w, _ = self.offsets[-1]
        return theta[w:w + self.sizes[-2] * self.outputs]

    def kernels(self, theta, X, XXt=None):
        """(F, M, M_A) at θ: outputs [n], the exact Gram M [n, n] from per-layer kernels, and
        M_A = (2/n) s² H Hᵀ (output weights, bias excluded).

        c outputs: F [n, c], M [n·c, n·c] over the flattened outputs (index i·c + a),
        M = (2/n) s² (H Hᵀ + β) ⊗ I_c + Σ_l (2/n) (Δ_l Δ_lᵀ) ∘ ((H_{l−1} H_{l−1}ᵀ + β) ⊗ 1 1ᵀ) with
        Δ_l [n·c, w_l] the back-propagated unit signals of the c outputs, M_A = (2/n) s² H Hᵀ ⊗ I_c."""
        if self.outputs > 1:
            return self._kernels_multi(theta, X, XXt)
        n = X.shape[0]
        L = self.layers(theta)
        Hs, Zs = self._hidden(L, X)
        h = Hs[-1]
        A, b = L[-1]
        s = self.output_scale
        F = s * (h @ A[0] + (b[0] if b is not None else 0.0))
        one = 1.0 if self.bias else 0.0
        HHt = [XXt if XXt is not None else X @ X.T] + [H @ H.T for H in Hs[1:]]
        MA = (2.0 / n) * s * s * HHt[-1]
        M = MA + (2.0 / n) * s * s * one
        # backprop signals: Δ_L = s (scalar per sample); Δ_l = φ′(z_l) ∘ (Δ_{l+1} W_{l+1})
        delta = s * jnp.ones((n, 1), dtype=X.dtype)
        for l in range(len(L) - 2, -1, -1):
            Wn = L[l + 1][0]
            z = Zs[l]
            dphi = jax.vmap(jax.vmap(jax.grad(self._phi)))(z)
            delta = dphi * (delta @ Wn)
            M = M + (2.0 / n) * (delta @ delta.T) * (HHt[l] + one)
        return F, M, MA

    def _hidden(self, L, X):
        """The hidden layers' inputs H_0 = X, H_1, … (last: the output layer's input) and
        pre-activations Z_l, for the layers L of `layers(theta)`."""
        Hs = [X]
        Zs = []
        h = X
        for W, b in L[:-1]:
            z = h @ W.T
            if b is not None:
                z = z + b
            Zs.append(z)
            h = self._phi(z)
            Hs.append(h)
        return Hs, Zs

    def _kernels_multi(self, theta, X, XXt=None):
        n = X.shape[0]
        c = self.outputs
        L = self.layers(theta)
        Hs, Zs = self._hidden(L, X)
        h = Hs[-1]
        A, b = L[-1]
        s = self.output_scale
        F = s * (h @ A.T + (b if b is not None else 0.0))
        one = 1.0 if self.bias else 0.0
        HHt = [XXt if XXt is not None else X @ X.T] + [H @ H.T for H in Hs[1:]]
        eye = jnp.eye(c, dtype=X.dtype)
        MA = (2.0 / n) * s * s * jnp.kron(HHt[-1], eye)
        M = (2.0 / n) * s * s * jnp.kron(HHt[-1] + one, eye)
        # Δ_L: ∂f_a/∂z_L = s e_a per sample, [n, c, c]; Δ_l = φ′(z_l) ∘ (Δ_{l+1} W_{l+1}) per output
        delta = s * jnp.broadcast_to(eye, (n, c, c))
        for l in range(len(L) - 2, -1, -1):
            Wn = L[l + 1][0]
            dphi = jax.vmap(jax.vmap(jax.grad(self._phi)))(Zs[l])
            delta = dphi[:, None, :] * (delta @ Wn)
            Dl = delta.reshape(n * c, -1)
            K = jnp.repeat(jnp.repeat(HHt[l] + one, c, axis=0), c, axis=1)  # (H Hᵀ + β) ⊗ 1 1ᵀ
            M = M + (2.0 / n) * (Dl @ Dl.T) * K
        return F, M, MA


# ---------------------------------------------------------------------------------------- recorder

def _series_wanted(hessian: bool, checkpoints: bool, output_layer: bool, products: bool) -> list[str]:
    want = ["outputs", "grad_norm"]
    if output_layer:
        want.append("output_layer_sharpness")
    if hessian:
        want.append("hessian_sharpness")
    if checkpoints:
        want.append("parameters")
    if products:
        want += ["gram_residual", "r_prime", "r_prime_from_start"]
    want += ["eigensolver_iterations", "eigensolver_matvecs", "step_seconds"]
    return [w for w in want if _fmt.schema_has(w)]


class JaxRecorder:
    """Records a GD run of a JAX model step by step (see the module doc).

    model: an ``MLP`` (exact kernel path, replayable ``kind: mlp`` recording, θ a flat float64
    vector) or any ``apply_fn(params, X) -> [n]`` (general jvp/vjp path, ``kind: external``).
    output_layer: general path only, a function params -> the output-layer weight array A (for
    ‖A‖²; λ_max(M_A) is then computed with tangents restricted to A, a second small LOBPCG:
    output_layer_sharpness=False skips it).
    start_step: GD step number of `params` at the first call (e.g. after an unrecorded warm-up).
    hessian_every: record λ_max(∇²L) every that many steps (Lanczos on HVPs; 0: never).
    checkpoint_every: store θ every that many steps (MLP default 100; 0: never).
    Several outputs: Y of shape [n, c] and a model whose outputs are [n, c] (``MLP(...,
    outputs=c)`` or any apply_fn) record a format 2.0 file: vectors [n, c], M over the n·c
    flattened outputs (sample-major, i·c + a), ‖A‖_F². eigenvectors_stored=j stores v_1..v_j of
    the k (c > 1). loss_convention: "mean_squared_error" (L = ‖D‖_F²/n, default),
    "half_mean_squared_error" (L/2, M = (1/n) J Jᵀ), "mse_per_output" (L/c, PyTorch's MSELoss,
    M = (2/(n c)) J Jᵀ); the GD gradient, M and the Hessian follow it.
    Other keyword arguments go to ``eostrace.Recorder`` (batch, swmr, on_flush, ...).
    """

    def __init__(self, path, model, params, X, Y, lr: float, k: int = 8, *, products: bool = True,
                 output_layer: Optional[Callable] = None, hessian_every: int = 0,
                 checkpoint_every: Optional[int] = None, tol: float = 1e-10, check_dense: int = 0,
                 description: Optional[dict] = None, swmr: bool = True, diverge_loss: float = 1e8,
                 data_description: Optional[str] = None, start_step: int = 0,
                 output_layer_sharpness: bool = True, loss_convention: str = "mean_squared_error",
                 eigenvectors_stored: Optional[int] = None, **writer_kw):
        self.X = jnp.asarray(np.asarray(X, dtype=np.float64))
        Yn = np.asarray(Y, dtype=np.float64)
        if Yn.ndim == 2 and Yn.shape[1] == 1:
            Yn = Yn[:, 0]
        self.c = 1 if Yn.ndim <= 1 else int(Yn.shape[1])
        self.Y = jnp.asarray(Yn.reshape(-1) if self.c == 1 else Yn)
        self.n = int(self.Y.shape[0])
        self.nc = self.n * self.c
        if loss_convention not in _fmt.LOSS_CONVENTIONS:
            raise ValueError(f"{path}: /run@loss_convention: {loss_convention!r} is not one of "
                             f"{sorted(_fmt.LOSS_CONVENTIONS)}")
        self.loss_convention = loss_convention
        # M = 2·(loss factor)·J Jᵀ; ratio to the (2/n) J Jᵀ of the MLP kernels
        self.gram_scale = 2.0 * _fmt.LOSS_CONVENTIONS[loss_convention][0](self.n, self.c)
        self._kernel_ratio = None if loss_convention == "mean_squared_error" else self.gram_scale * self.n / 2.0
        self.lr = float(lr)
        self.k = int(k)
        self.is_mlp = isinstance(model, MLP)
        self.model = model
        flat, self._unravel = ravel_pytree(params)
        self.p = int(flat.shape[0])
        if self.is_mlp and model.outputs != self.c:
            raise ValueError(f"{path}: /data/Y: the MLP has {model.outputs} outputs but Y has {self.c} columns")
        if self.is_mlp:
            if self.p != model.n_parameters:
                raise ValueError(f"{path}: /run@n_parameters: θ has {self.p} entries, the MLP {model.n_parameters}")
            self._XXt = self.X @ self.X.T
            kern = jax.jit(lambda th, X, XXt: model.kernels(th, X, XXt))
            self._kern = lambda th: kern(th, self.X, self._XXt)
            apply_fn = model.apply
            desc = model.description
            if checkpoint_every is None:
                checkpoint_every = 100
        else:
            apply_fn = model
            desc = description or {"kind": "external", "framework": "jax",
                                   "input_dim": int(np.prod(self.X.shape[1:])),
                                   "input_shape": [int(v) for v in self.X.shape[1:]]}
            c_model = output_count(apply_fn, self.X, params)
            if c_model != self.c:
                raise ValueError(f"{path}: /data/Y: apply_fn gives {c_model} outputs per sample but Y has {self.c}")
            self._gram = gram_block_fn(apply_fn, self.X, scale=None if self._kernel_ratio is None else self.gram_scale)
            if checkpoint_every is None:
                checkpoint_every = 0
        self.apply_fn = apply_fn
        self.output_layer = output_layer
        self._blockA = None
        if output_layer is not None and not self.is_mlp:
            self._gram_A = gram_block_fn(apply_fn, self.X, masked=True,
                                         scale=None if self._kernel_ratio is None else self.gram_scale)
        self.hessian_every = int(hessian_every)
        self.checkpoint_every = int(checkpoint_every)
        self.diverge_loss = diverge_loss
        Xc, Yc = self.X, self.Y

        lf = _loss_fn(apply_fn, np.asarray(self.Y), loss_convention)

        def evaluate(params, Xc, Yc):
            def loss_fn(p):
                return lf(p, Xc, Yc)
            (loss, F), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
            return loss, F, g
        ev = jax.jit(evaluate)
        self._evaluate = lambda params: ev(params, Xc, Yc)
        if self.hessian_every:
            self._hvp = hvp_fn(apply_fn, self.X, self.Y, loss_convention)
        series = _series_wanted(self.hessian_every > 0, self.checkpoint_every > 0,
                                output_layer_sharpness and (self.is_mlp or output_layer is not None), products)
        self.series = series
        self.products = products and "gram_residual" in series
        cad = {"checkpoint": self.checkpoint_every} if self.checkpoint_every else {}
        if self.hessian_every:
            cad["hessian"] = self.hessian_every
        extra = dict(writer_kw.pop("extra_attrs", {}) or {})
        self.tracker = Tracker(self.n, self.k, self.lr, products=products, tol=tol, check_dense=check_dense,
                               outputs=self.c)
        if loss_convention != "mean_squared_error":
            writer_kw["loss_convention"] = loss_convention
        if eigenvectors_stored is not None:
            writer_kw["eigenvectors_stored"] = eigenvectors_stored
        self.w = _fmt.RecordingWriter(
            path, learning_rate=self.lr, model=desc, X=np.asarray(self.X).reshape(self.n, -1), Y=np.asarray(self.Y),
            k=self.k,
            n_parameters=self.p, series=series, swmr=swmr, cadences=cad or None,
            data_description=data_description, extra_attrs=extra, **writer_kw)
        self.path = str(path)
        self.t = int(start_step)
        self.status = "running"
        self._hess_v = None

    def _output_layer_sharpness_general(self, params) -> float:
        """λ_max(M_A) with M_A v = (2/n) J (m ∘ Jᵀ v), m the 0/1 mask of the output weights
        (the gradient of Σ output_layer(params), so a leaf or a slice of a flat θ both work)."""
        mask = jax.grad(lambda p: jnp.sum(self.output_layer(p)))(params)
        fn = self._gram_A
        res = top_eigenpairs(_padded(lambda V: fn(params, mask, V), self.nc), self.nc, 1, tol=1e-12,
                             X0=self._blockA)
        self._blockA = res.block
        return float(res.values[0])

    def step(self, params) -> dict:
        """Record GD step t (= the number of steps recorded so far) at θ(t) = params; returns
        {"loss", "grad", "row"}: the gradient for the update θ(t+1) = θ(t) − lr·grad."""
        t0 = time.perf_counter()
        t = self.t
        loss, F, g = self._evaluate(params)
        loss = float(loss)
        F = np.asarray(F)
        D = F - np.asarray(self.Y)
        if not (math.isfinite(loss) and np.all(np.isfinite(F))) or loss > self.diverge_loss:
            self.status = "diverged"
            raise FloatingPointError(f"{self.path}: step {t}: loss {loss} diverged")
        flat_g = np.asarray(ravel_pytree(g)[0])
        if self.is_mlp:
            theta = params
            _, M, MA = self._kern(theta)
            M = np.asarray(M)
            if self._kernel_ratio is not None:
                M = self._kernel_ratio * M
            matmat = lambda V: M @ V  # noqa: E731
            A = np.asarray(self.model.output_weights(theta))
            A2 = float(A @ A)
            lam_A = None
            if "output_layer_sharpness" in self.series:
                MA = np.asarray(MA)
                if self.c > 1:  # M_A = (2/n) s² H Hᵀ ⊗ I_c: its eigenvalues are those of one diagonal block
                    MA = np.ascontiguousarray(MA[::self.c, ::self.c])
                if self._kernel_ratio is not None:
                    MA = self._kernel_ratio * MA
                lam_A = float(top_eigenpairs(lambda V: MA @ V, self.n, 1, tol=1e-12).values[0]) \
                    if self.n > 64 else float(np.linalg.eigvalsh(MA)[-1])
        else:
            matmat = _padded(lambda V: self._gram(params, V), self.nc)
            if self.output_layer is not None:
                A = np.asarray(self.output_layer(params)).ravel()
                A2 = float(A @ A)
                lam_A = self._output_layer_sharpness_general(params) if "output_layer_sharpness" in self.series else None
            else:
                A2 = float("nan")
                lam_A = None
        trow = self.tracker.step(t, D, matmat)
        row = {"loss": loss, "residual": D, "output_norm_sq": A2,
               "dtf": float(D @ F) if self.c == 1 else float(np.sum(D * F)),
               "sharpness": trow["sharpness"], "eigenvalues": trow["eigenvalues"],
               "eigenvectors": trow["eigenvectors"][: self.w.j]}
        if "outputs" in self.series:
            row["outputs"] = F
        if "grad_norm" in self.series:
            row["grad_norm"] = float(np.linalg.norm(flat_g))
        if lam_A is not None:
            row["output_layer_sharpness"] = lam_A
        for key in ("gram_residual", "r_prime", "r_prime_from_start"):
            if key in self.series:
                row[key] = trow[key]
        if "eigensolver_iterations" in self.series:
            row["eigensolver_iterations"] = np.int64(trow["eigensolver_iterations"])
        if "eigensolver_matvecs" in self.series:
            row["eigensolver_matvecs"] = np.int64(trow["eigensolver_matvecs"] + trow["product_matvecs"])
        if self.checkpoint_every and t % self.checkpoint_every == 0:
            self.w.append_checkpoint(t, np.asarray(ravel_pytree(params)[0]))
            self._last_ck = t
        self._last_params = params
        if self.hessian_every and t % self.hessian_every == 0:
            val, vec, _ = hessian_sharpness(self.apply_fn, self.X, self.Y, params, v0=self._hess_v, _hvp=self._hvp,
                                            loss_convention=self.loss_convention)
            self._hess_v = vec
            self.w.append_hessian(t, val)
        if "step_seconds" in self.series:
            row["step_seconds"] = time.perf_counter() - t0
        self.w.append(t, **row)
        self.t += 1
        self.last_row = row
        return {"loss": loss, "grad": g, "row": row, "D": D}

    def close(self, status: Optional[str] = None) -> None:
        """Finish the file. With checkpoints on, the last recorded step is checkpointed too (as
        the Swift recorder does), so a replay covers the whole run."""
        if not self.w.f:
            return
        last = self.t - 1
        if self.checkpoint_every and last >= 0 and getattr(self, "_last_ck", None) != last \
                and getattr(self, "_last_params", None) is not None:
            self.w.append_checkpoint(last, np.asarray(ravel_pytree(self._last_params)[0]))
            self._last_ck = last
        self.w.close(status or ("completed" if self.status == "running" else self.status))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close("completed")
        elif exc_type is FloatingPointError or self.status == "diverged":
            self.close("diverged")
        else:
            try:
                self.close("interrupted")
            except Exception:
                pass
        return False


def train(model, params, X, Y, lr: float, steps: int, path, k: int = 8, **kw):
    """Full-batch GD for `steps` steps (θ(t+1) = θ(t) − lr·∇L, L = ‖F − Y‖²/n), recording every
    step 0..steps−1 to `path`. Returns the final parameters. Status: completed, or diverged when
    the loss becomes non-finite (the loop then stops), interrupted on any other exception.
    warmup: that many plain (jitted, unrecorded) GD steps first; the recording then starts at
    step `warmup` (its step coordinate counts every GD step)."""
    warmup = int(kw.pop("warmup", 0))
    if warmup:
        params = plain_gd(model, params, X, Y, lr, warmup, kw.get("loss_convention", "mean_squared_error"))
        kw["start_step"] = warmup
    rec = JaxRecorder(path, model, params, X, Y, lr, k, **kw)
    try:
        for _ in range(steps):
            try:
                info = rec.step(params)
            except FloatingPointError:
                rec.close("diverged")
                return params
            params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, info["grad"])
    except BaseException:
        rec.close("interrupted")
        raise
    rec.close("completed")
    return params


def plain_gd(model, params, X, Y, lr: float, steps: int, loss_convention: str = "mean_squared_error"):
    """`steps` plain full-batch GD steps (jitted, nothing recorded): θ ← θ − lr·∇L (L in the
    loss convention; Y [n] or [n, c])."""
    apply_fn = model.apply if isinstance(model, MLP) else model
    X = jnp.asarray(np.asarray(X, dtype=np.float64))
    Yn = np.asarray(Y, dtype=np.float64)
    Y = jnp.asarray(Yn.reshape(-1) if Yn.ndim == 1 or Yn.shape[1] == 1 else Yn)
    lf = _loss_fn(apply_fn, np.asarray(Y), loss_convention)

    @jax.jit
    def step(p, X, Y):
        g = jax.grad(lambda q: lf(q, X, Y)[0])(p)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
    for _ in range(steps):
        params = step(params, X, Y)
    return params
