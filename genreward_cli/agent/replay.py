"""Uniform sequence replay for DreamerV3, frames stored as uint8 (never float).

One ring buffer of steps. Step t holds the observation o_t, the action that led to it (zero
when ``is_first``), the reward received with it and its continue flag. Sequences of length T
are drawn uniformly from contiguous stretches; they may cross episode boundaries, which
``is_first`` marks so the RSSM resets there.

The steps live in host memory (anonymous mappings). ``keep_on(device)`` adds a copy on the
agent's device (frames still uint8), brought up to date at each ``sample`` with the steps
added since (two per update at Table A's train ratio), so that a batch is gathered there and
does not cross PCIe at each update. The indices drawn are the host replay's, so both give the
same batches.
"""

from __future__ import annotations

import mmap

import numpy as np
import torch


def mapped_zeros(shape: tuple, dtype) -> np.ndarray:
    """A zeroed array in its own anonymous memory mapping.

    The kernel supplies its pages zeroed as they are first written, and takes them back when
    the array is freed. ``np.zeros`` would take the 12 GB of a 1e6-step buffer from the C heap
    instead, since every `genreward` process keeps freed memory there (``memory.py``): a second
    buffer in the same process (a sweep in a notebook, the benchmarks) then reused the first's
    freed heap, which calloc must clear byte by byte: 26 s, and the whole buffer resident at
    once (a 2.4 GB one raised the peak resident size by 2.4 GB).
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    try:
        buffer = mmap.mmap(-1, max(count * dtype.itemsize, 1))
    except OSError as e:
        raise MemoryError(f"cannot map {count * dtype.itemsize / 2**30:.1f} GiB: {e.strerror}") from None
    return np.frombuffer(buffer, dtype, count=count).reshape(shape)


FIELDS = ("image", "action", "reward", "cont", "is_first")


class Replay:
    """Ring buffer of ``capacity`` steps: image uint8 [H, W, 3], action float32 [A], reward
    and continue flag float32, is_first bool; sequences drawn by a numpy generator seeded by
    ``seed``.

    Raises:
        MemoryError: the host arrays cannot be mapped (``mapped_zeros``).
    """

    def __init__(self, capacity: int, image_shape: tuple, action_dim: int, seed: int = 0):
        self.capacity = capacity
        self.image = mapped_zeros((capacity, *image_shape), np.uint8)
        self.action = mapped_zeros((capacity, action_dim), np.float32)
        self.reward = mapped_zeros((capacity,), np.float32)
        self.cont = mapped_zeros((capacity,), np.float32)
        self.is_first = mapped_zeros((capacity,), bool)
        self.count = 0  # steps ever added
        self.rng = np.random.default_rng(seed)
        self.mirror: dict[str, torch.Tensor] | None = None  # the copy on a device (keep_on)
        self.synced = 0  # steps (counted as ``count``) up to which the copy is up to date

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    @property
    def nbytes_per_step(self) -> int:
        return sum(getattr(self, k).nbytes for k in FIELDS) // self.capacity

    def mirror_nbytes(self) -> int:
        """Bytes a device copy of the whole buffer takes (``keep_on``)."""
        return self.capacity * self.nbytes_per_step

    def keep_on(self, device) -> None:
        """Keep a copy of the buffer on ``device`` (a ``torch.device`` or its name) and gather
        sampled batches there. Its ``mirror_nbytes()`` are allocated now, not written: a
        step is copied there before it is first sampled (on a CPU its pages are used as the
        replay fills, as the host buffer's are).

        Raises:
            RuntimeError: the device has no room for it (``torch.OutOfMemoryError`` on CUDA).
        """
        self.mirror = {k: torch.empty_like(torch.from_numpy(getattr(self, k)), device=device)
                       for k in FIELDS}
        self.synced = 0

    def _sync(self) -> None:
        """Copy the steps added since the last call to the device copy, a slice per array
        (two where the ring wraps)."""
        first = max(self.synced, self.count - len(self))
        while first < self.count:
            start = first % self.capacity
            stop = min(self.capacity, start + self.count - first)
            for k in FIELDS:
                self.mirror[k][start:stop].copy_(torch.from_numpy(getattr(self, k)[start:stop]),
                                                 non_blocking=False)
            first += stop - start
        self.synced = self.count

    def add_reward(self, count: int, value: float) -> None:
        """Add ``value`` to the reward of the step added as the ``count``-th (0-based, as
        ``count`` was before its ``add``), in the host buffer and the device copy.

        Raises:
            ValueError: that step has been overwritten, or not added yet.
        """
        if not self.count - self.capacity <= count < self.count:
            raise ValueError(f"step {count} is not in the replay (it holds steps "
                             f"{self.count - len(self)} to {self.count - 1})")
        i = count % self.capacity
        self.reward[i] += np.float32(value)
        if self.mirror is not None and count < self.synced:
            self.mirror["reward"][i] = float(self.reward[i])

    def add(self, image, action, reward: float, is_first: bool, is_terminal: bool) -> None:
        """Add one step; ``image`` uint8 [H, W, 3]."""
        assert image.dtype == np.uint8, image.dtype
        i = self.count % self.capacity
        self.image[i] = image
        self.action[i] = 0.0 if is_first else action
        self.reward[i] = 0.0 if is_first else reward
        self.cont[i] = 0.0 if is_terminal else 1.0
        self.is_first[i] = is_first
        self.count += 1

    def sample(self, batch: int, length: int, device="cpu") -> dict[str, torch.Tensor]:
        """``batch`` sequences of ``length`` steps, uniformly over valid starts, on ``device``:
        image uint8 [B, T, H, W, 3], action float32 [B, T, A], reward and cont float32
        [B, T], is_first bool [B, T] (True at t = 0). Gathered on the device copy when there
        is one (``keep_on``); the same draws and values either way.

        Raises:
            ValueError: the replay holds fewer than ``length`` steps.
        """
        n = len(self)
        if n < length:
            raise ValueError(f"replay holds {n} steps, fewer than a sequence of {length}")
        # valid starts in chronological order: the oldest stored step is count - n
        offsets = self.rng.integers(0, n - length + 1, batch)
        idx = (self.count - n + offsets[:, None] + np.arange(length)[None]) % self.capacity
        if self.mirror is not None:
            self._sync()
            at = torch.from_numpy(idx).to(self.mirror["image"].device)
            out = {k: v[at] for k, v in self.mirror.items()}
        else:
            out = {k: torch.from_numpy(getattr(self, k)[idx]) for k in FIELDS}
        out["is_first"][:, 0] = True  # every sequence starts from a reset state
        return {k: v.to(device) for k, v in out.items()}

    def sample_transitions(self, n: int, rng: np.random.Generator):
        """``n`` transitions (o_t, a_t, o_{t+1}) uniformly over stored steps, never across an
        episode boundary: uint8 [n, H, W, 3], float32 [n, A], uint8 [n, H, W, 3]."""
        stored = len(self)
        oldest = self.count - stored
        picked: list[np.ndarray] = []
        for _ in range(100):
            if stored < 2 or sum(len(p) for p in picked) >= n:
                break
            t = (oldest + rng.integers(0, stored - 1, 2 * n)) % self.capacity
            picked.append(t[~self.is_first[(t + 1) % self.capacity]])
        t = np.concatenate(picked)[:n] if picked else np.zeros(0, np.int64)
        if len(t) < n:
            raise ValueError(f"replay holds too few transitions for a batch of {n}")
        nxt = (t + 1) % self.capacity
        return self.image[t], self.action[nxt], self.image[nxt]

    def state_dict(self) -> dict:
        """The stored steps only (a 1e6-step buffer is mostly empty early in a run)."""
        n = len(self)
        return {**{k: getattr(self, k)[:n] for k in FIELDS}, "count": self.count,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        n = len(state["image"])
        if n > self.capacity:
            raise ValueError(f"replay state holds {n} steps, more than the capacity {self.capacity}")
        for k in FIELDS:
            getattr(self, k)[:n] = state[k]
        self.count = state["count"]
        self.rng.bit_generator.state = state["rng"]
        self.synced = 0  # the device copy, if any, is brought up to date at the next sample
