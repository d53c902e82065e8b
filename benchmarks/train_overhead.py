"""What a short ``fit`` call pays after its last step, with ``tf.data`` autotuning on and off.

On TF 2.21 about half of the short ``fit`` calls were seen to block 3-5 s *after* ``on_train_end``
while the ``tf.data`` iterator shut down with autotuning on; :func:`ambient_dcs.train` switches it
off for the training stream. This measures the delay between ``on_train_end`` and the return of
``fit`` for ``calls`` short calls of each kind, on the input pipeline of
:func:`ambient_dcs.train_prior` (shuffle, batch, ``prefetch(AUTOTUNE)``), and the same for ``train``.

``python -m benchmarks.train_overhead [--calls 8]``; also part of ``python -m benchmarks.run``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

__all__ = ["bench_train_overhead"]


def _stream(image_shape, autotune):
    """The input pipeline of ``train_prior`` (shuffle, repeat, batch, prefetch) over random images."""
    import numpy as np
    import tensorflow as tf

    x = np.random.default_rng(0).random((512, *image_shape)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(512, seed=0).repeat().batch(16).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return ds.with_options(options)


def bench_train_overhead(calls=8, steps=5):
    """Seconds between ``on_train_end`` and the return of each call: ``{kind: {"median", "max", "blocked", "calls"}}``.

    Kinds: ``fit`` with autotuning on, ``fit`` with it off, and :func:`ambient_dcs.train` (which
    switches it off). ``blocked`` counts the calls that waited more than 1 s.
    """
    import keras
    import numpy as np

    from ambient_dcs.testing import TRAINER_CASES
    from ambient_dcs.training import train

    class EndTime(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            self.at = time.perf_counter()

    model = TRAINER_CASES["AmbientGAN"]()[0]  # a tiny compiled AmbientGAN: the delay is not in the model
    results = {}
    for kind in ("fit, autotune on", "fit, autotune off", "ambient_dcs.train"):
        delays = []
        for _ in range(calls):
            end = EndTime()
            if kind.startswith("fit"):
                model.fit(_stream(model.image_shape, kind.endswith("on")), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
                          callbacks=[end])
            else:
                with tempfile.TemporaryDirectory() as out:
                    train(model, _stream(model.image_shape, True), steps=steps, out_dir=out,
                          checkpoint_every=steps, verbose=0, callbacks=[end])
            delays.append(time.perf_counter() - end.at)
        results[kind] = {"median": float(np.median(delays)), "max": float(np.max(delays)),
                         "blocked": int(np.sum(np.asarray(delays) > 1.0)), "calls": calls}
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=8, help="short fit calls per kind (default 8)")
    args = p.parse_args(argv)
    for kind, r in bench_train_overhead(args.calls).items():
        print(f"{kind:20s} after on_train_end: median {r['median']:.3f} s, max {r['max']:.3f} s, "
              f"{r['blocked']} of {r['calls']} calls blocked > 1 s")


if __name__ == "__main__":
    main()
