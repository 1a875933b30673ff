"""Record a Fashion-MNIST tanh MLP trained by full-batch GD in JAX (the README's "From Python").

    python3 samples/python/jax_quickstart.py OUT.h5 [--n 200 --widths 32,32 --lr 0.1 --steps 400 --k 4]

Needs `pip install "./python[jax]"` (or runs from a checkout). About 10 s of CPU for the defaults;
Λ reaches 2/η = 20 near step 20 and then cycles around it (`eostrace analyze OUT.h5`: ~30 cycles).
"""

import argparse
import sys
from pathlib import Path

try:
    import eostrace.jax as ej
except ImportError:  # a checkout without `pip install ./python`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    import eostrace.jax as ej
from eostrace.data import fashion_mnist

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("out")
ap.add_argument("--n", type=int, default=200)
ap.add_argument("--widths", default="32,32")
ap.add_argument("--lr", type=float, default=0.1)
ap.add_argument("--steps", type=int, default=400)
ap.add_argument("--k", type=int, default=4)
a = ap.parse_args()

X, Y = fashion_mnist(n=a.n, classes=(0, 6))            # Debian's dataset-fashion-mnist, centered
net = ej.MLP(input_dim=784, widths=[int(w) for w in a.widths.split(",")], activation="tanh")
ej.train(net, net.init(seed=0), X, Y, lr=a.lr, steps=a.steps, path=a.out, k=a.k)
print(f"{a.out}: {a.steps} steps recorded")
