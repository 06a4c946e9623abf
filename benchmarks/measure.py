"""The measurements of `make bench`: each fast path against its plain alternative, measured in
one run on the same chips, batch size and workers, and reported as a ratio (absolute numbers
depend on the machine)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import lightning as L
import numpy as np
import torch
from affine import Affine
from PIL import Image
from rasterio.crs import CRS
from sklearn.metrics import fbeta_score
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from amazon_cls.core.labels import LABEL_INDEX, NUM_LABELS
from amazon_cls.core.thresholds import fit_thresholds, fit_thresholds_reference
from amazon_cls.data.cache import load_or_build_cache
from amazon_cls.data.dataset import ChipDataset, EpochSampler, chip_loader
from amazon_cls.data.layout import list_chips
from amazon_cls.data.sources import SOURCES
from amazon_cls.data.synthetic import write_dataset
from amazon_cls.data.transforms import train_transform
from amazon_cls.model.module import ChipClassifier
from amazon_cls.runtime import hardware

JPG = SOURCES["jpg"]


class NaiveDataset(Dataset):
    """The textbook loader: PIL decode, torchvision transforms on float tensors per image."""

    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths = paths
        rotations = [T.RandomRotation((angle, angle)) for angle in (0, 90, 180, 270)]
        self.transform = T.Compose(
            [
                T.Resize(size),
                T.RandomHorizontalFlip(),
                T.RandomVerticalFlip(),
                T.RandomChoice(rotations),
                T.ToTensor(),
                T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), torch.zeros(NUM_LABELS)


def images_per_second(batches: Iterable, consume: Callable, warmup: int, count: int) -> float:
    """Throughput over `count` batches after `warmup` untimed ones (workers started, caches warm)."""
    iterator = iter(batches)
    for _ in range(warmup):
        consume(next(iterator))
    images, start = 0, time.perf_counter()
    for _ in range(count):
        images += consume(next(iterator))
    return images / (time.perf_counter() - start)


def endless(loader: DataLoader) -> Iterable:
    epoch = 0
    while True:
        if isinstance(loader.sampler, EpochSampler):
            loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def our_loader(paths: list[Path], size: int, batch: int, workers: int, cache: np.ndarray | None = None) -> DataLoader:
    dataset = ChipDataset(paths, None, size, train_transform(), cache=cache, source=JPG)
    return chip_loader(
        dataset,
        batch,
        workers,
        sampler=EpochSampler(len(paths), 0, True),
        persistent_workers=workers > 0,
        drop_last=True,
    )


def normalised_count(model: ChipClassifier) -> Callable:
    """Consume one of our batches the way training does: normalise on the device."""
    return lambda b: len(model.normalize(b["image"]))


def bench_loaders(paths: list[Path], args: argparse.Namespace, model: ChipClassifier, cache_dir: Path) -> list[tuple]:
    """Our loader against the textbook one, twice: up to the batch that goes to the device (uint8;
    a GPU normalises it for free), and with the normalisation done on this CPU counted in."""
    rows, count = [], args.batches
    to_device = lambda b: len(b["image"])  # noqa: E731
    normalised = normalised_count(model)
    for size in (256, 128):
        naive = DataLoader(
            NaiveDataset(paths, size),
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
            drop_last=True,
        )
        naive_rate = images_per_second(endless(naive), lambda b: len(b[0]), 2, count)
        ours = endless(our_loader(paths, size, args.batch_size, args.workers))
        rows.append(
            (
                f"loader at {size} px, batches to the device: ours vs PIL + torchvision",
                images_per_second(ours, to_device, 2, count),
                naive_rate,
                ">= 2",
            )
        )
        rows.append(
            (
                f"loader at {size} px, normalised on this CPU: ours vs PIL + torchvision",
                images_per_second(ours, normalised, 2, count),
                naive_rate,
                "> 1",
            )
        )
    cache = load_or_build_cache(cache_dir, "bench", paths, 256, JPG)
    epochs = max(count, 2 * len(paths) // args.batch_size)  # past the first epoch: what the cache serves
    decoded = images_per_second(endless(our_loader(paths, 256, args.batch_size, args.workers)), to_device, 2, epochs)
    cached = images_per_second(
        endless(our_loader(paths, 256, args.batch_size, args.workers, cache)), to_device, 2, epochs
    )
    rows.append(("epochs 2+ at 256 px: decoded-chip cache vs decoding every epoch", cached, decoded, ">= 2"))
    return rows


class StepTimer(L.Callback):
    """Times training steps after a warm-up, the same steps the bare loop times."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.images, self.start, self.seconds = warmup, 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        if trainer.global_step >= self.warmup:
            self.images += len(batch["image"])

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


def bench_framework(paths: list[Path], args: argparse.Namespace, cache_dir: Path) -> tuple:
    """Lightning `fit` vs a bare PyTorch loop: same model, batches, optimiser, schedule and precision."""
    cache = load_or_build_cache(cache_dir, "bench", paths, args.image_size, JPG)
    warmup, steps = 3, args.steps
    precision = str(hardware.resolve_precision(hardware.AUTO).value)

    def fresh() -> tuple[ChipClassifier, DataLoader]:
        torch.manual_seed(0)
        model = ChipClassifier(backbone=args.backbone, pretrained=False, optimizer={"lr": 1e-3})
        return model, our_loader(paths, args.image_size, args.batch_size, args.workers, cache)

    model, loader = fresh()
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=precision,
        max_steps=warmup + steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        use_distributed_sampler=False,
    )
    trainer.fit(model, train_dataloaders=loader)
    lightning_rate = timer.images / timer.seconds

    model, loader = fresh()
    optimizer = torch.optim.AdamW(model.net.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 1e-3, total_steps=warmup + steps, pct_start=0.1)
    model.train()

    def step(batch: dict) -> int:
        images = model.normalize(batch["image"])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in precision):
            loss = model.loss_fn(model(images).float(), batch["target"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return len(images)

    bare_rate = images_per_second(endless(loader), step, warmup, steps)
    return (
        f"Lightning fit vs bare loop ({args.backbone}, {args.image_size} px, {precision})",
        lightning_rate,
        bare_rate,
        ">= 0.9",
    )


def sklearn_f2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0)


def bench_thresholds(chips: int = 40_000) -> tuple:
    """Our fit vs the grid search as usually written: sklearn's F2 for every candidate of every label."""
    rng = np.random.default_rng(0)
    targets = rng.random((chips, NUM_LABELS)) < rng.uniform(0.003, 0.7, NUM_LABELS)
    probs = np.clip(0.5 * targets + 0.6 * rng.random(targets.shape) - 0.05, 0, 1).round(4)
    start = time.perf_counter()
    fast = fit_thresholds(probs, targets)
    fast_seconds = time.perf_counter() - start
    start = time.perf_counter()
    sklearn_f2(targets, probs > 0.2)
    one = time.perf_counter() - start
    print(
        f"  thresholds: the sklearn grid search scores 17 labels x 100 candidates a pass, {one:.2f} s each: "
        f"about {17 * 100 * one / 60:.0f} min a pass, 2 or 3 passes ...",
        flush=True,
    )
    start = time.perf_counter()
    reference = fit_thresholds_reference(probs, targets, score=sklearn_f2)
    reference_seconds = time.perf_counter() - start
    same = "same thresholds" if np.array_equal(fast, reference) else "DIFFERENT THRESHOLDS"
    return (
        f"thresholds on {chips:,} x 17: ours vs sklearn's grid search, {same}",
        fast_seconds,
        reference_seconds,
        (">= 500", "s"),
    )


def model_step_rate(backbone: str, size: int, batch: int, steps: int, bf16: bool, channels_last: bool) -> float:
    """Training images/s of one configuration on a random batch (no data loading)."""
    torch.manual_seed(0)
    model = ChipClassifier(backbone=backbone, pretrained=False, channels_last=channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = model.normalize(torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8))
    targets = (torch.rand(batch, NUM_LABELS) < 0.2).float()

    def step(_: object) -> int:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss_fn(model(images).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return batch

    return images_per_second(iter(range(steps + 2)), step, 2, steps)


def bench_precision(args: argparse.Namespace, rounds: int = 3) -> list[tuple]:
    """`auto`'s precision against the other one, then channels_last against the plain layout at
    auto's precision (training steps). The configurations take turns, `rounds` times, and each
    keeps its best: a cold first run or a busy moment does not decide the ratio."""
    chosen = str(hardware.resolve_precision(hardware.AUTO).value)
    other = "32" if "bf16" in chosen else "bf16-mixed"
    configurations = [(chosen, True), (other, True), (chosen, False)]
    best = dict.fromkeys(configurations, 0.0)
    for _ in range(rounds):
        for precision, channels_last in configurations:
            rate = model_step_rate(args.backbone, args.image_size, 32, args.steps, "bf16" in precision, channels_last)
            best[precision, channels_last] = max(best[precision, channels_last], rate)
    what = f"({args.backbone}, {args.image_size} px, batch 32, training, best of {rounds})"
    return [
        (f"precision: auto's {chosen} vs {other} {what}", best[chosen, True], best[other, True], "> 1"),
        (f"channels_last vs plain layout at {chosen} {what}", best[chosen, True], best[chosen, False], ">= 1"),
    ]


def tcmalloc_path() -> str | None:
    for candidate in (
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib64/libtcmalloc_minimal.so.4",
    ):  # the Makefile's list
        if Path(candidate).is_file():
            return candidate
    return None


def bench_tcmalloc(args: argparse.Namespace) -> tuple | None:
    """fp32 training steps in two fresh processes: with tcmalloc preloaded, and with glibc malloc."""
    library = tcmalloc_path()
    if library is None:
        return None
    rate_call = f"model_step_rate({args.backbone!r}, {args.image_size}, 32, {args.steps}, False, False)"
    code = f"from benchmarks.measure import model_step_rate; print({rate_call})"

    def rate(preload: str) -> float:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"} | ({"LD_PRELOAD": preload} if preload else {})
        output = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(output.stdout.strip().splitlines()[-1])

    return f"tcmalloc vs glibc malloc (fp32 {args.backbone}, {args.image_size} px)", rate(library), rate(""), "> 1"


def bench_map(paths: list[Path], args: argparse.Namespace, workdir: Path, rounds: int = 5) -> list[tuple]:
    """`map` on a scene stitched from the chips vs `predict` on the same chips as files: the same
    model and Trainer.predict, timed whole (workers started per call), best of `rounds`. The scene
    is written deflate-compressed (the usual GeoTIFF) and uncompressed: decompressing a window
    costs more than decoding a JPEG at 1/8 scale (`chips.decode_jpeg`), reading a plain one less."""
    from amazon_cls.data.decode import read_chip
    from amazon_cls.data.synthetic import write_mosaic
    from amazon_cls.data.to_predict import ChipFolders
    from amazon_cls.geo.grid import Tiling, make_grid
    from amazon_cls.geo.scene import Scene
    from amazon_cls.geo.tiles import SceneTiles
    from amazon_cls.inference.writer import ProbabilityWriter

    chips = [read_chip(path, JPG) for path in paths[:600]]
    size = chips[0].shape[0]
    model = ChipClassifier(backbone="test_resnet", pretrained=False, image_size=32, tta="d4").eval()
    workers = {"batch_size": args.batch_size, "num_workers": args.workers, "pin_memory": False}
    files = ChipFolders([link_chips(paths[: len(chips)], workdir / "files")], 32, JPG, **workers)
    quiet = dict.fromkeys(("logger", "enable_checkpointing", "enable_progress_bar", "enable_model_summary"), False)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision="32", callbacks=[ProbabilityWriter()], **quiet)

    def rate(datamodule: L.LightningDataModule) -> float:
        start = time.perf_counter()
        trainer.predict(model, datamodule=datamodule, return_predictions=False)
        return len(chips) / (time.perf_counter() - start)

    rows = []
    for compress in ("deflate", "none"):
        scene = Scene.open(write_mosaic(workdir / f"scene_{compress}.tif", chips, cols=24, compress=compress), JPG)
        tiles = SceneTiles(scene, make_grid(scene, Tiling(size, size)), 32, **workers)
        scene_rate, files_rate = (max(rate(dm) for _ in range(rounds)) for dm in (tiles, files))
        kind = {"deflate": "deflate-compressed", "none": "uncompressed"}[compress]
        name = f"map: {len(chips)} chips of a {kind} GeoTIFF vs as JPEG files (test_resnet, 32 px, TTA d4)"
        rows.append((name, scene_rate, files_rate, ">= 0.8"))
    return rows


def bench_warped(paths: list[Path], args: argparse.Namespace, workdir: Path, windows: int = 40) -> list[tuple]:
    """Chips read from a NICFI-like quad (EPSG:3857, 4.77 m, 16-bit, alpha) warped window by window
    onto a UTM grid, as `monitor grid=` reads another sensor: under the scene reads' GDAL cache
    (`geo.scene.CACHE_BYTES`) vs under a cache of 64 bytes, which `GDAL_CACHEMAX=64` was (rasterio
    passes an integer to GDAL in bytes)."""
    from amazon_cls.data.decode import read_chip
    from amazon_cls.data.synthetic import write_mosaic
    from amazon_cls.geo import scene as scene_module
    from amazon_cls.geo.grid import Tiling, grid_for
    from amazon_cls.geo.imitate import as_nicfi_quad
    from amazon_cls.geo.scene import Footprint, Scene
    from amazon_cls.geo.sensors import SENSORS
    from amazon_cls.geo.tiles import SceneChips

    chips = [read_chip(path, JPG)[..., :3] for path in paths[:100]]
    side = int(len(chips) ** 0.5)
    utm = write_mosaic(workdir / "warped_utm.tif", chips[: side * side], cols=side)
    quad = as_nicfi_quad(utm, workdir / "warped_quad.tif")
    grid = Footprint.of(utm)
    scene = Scene.open(quad, JPG, sensor=SENSORS["nicfi"]).read_onto(grid)
    tiling = grid_for(grid, Tiling(chips[0].shape[0]))

    def rate(cache_bytes: int) -> float:
        original = scene_module.CACHE_BYTES
        scene_module.CACHE_BYTES = cache_bytes
        try:
            reader = SceneChips(scene, tiling, 32)
            count = min(windows, len(reader))
            start = time.perf_counter()
            for k in range(count):
                reader._chip(k)
            return count / (time.perf_counter() - start)
        finally:
            scene_module.CACHE_BYTES = original

    ours, tiny = (max(rate(cache) for _ in range(2)) for cache in (scene_module.CACHE_BYTES, 64))
    name = f"warped reads: chips of a NICFI-like quad onto UTM, {scene_module.CACHE_BYTES >> 20} MB vs 64 B GDAL cache"
    return [(name, ours, tiny, ">= 3")]


def link_chips(paths: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def bench_chips(data: Path | None, workdir: Path) -> tuple[list[Path], str]:
    """The chips to measure on: the folder `data`, else synthetic ones."""
    if data:
        return list_chips([data], JPG.suffixes), f"{data} (real chips)"
    root = write_dataset(workdir / "synthetic", num_train=640, num_test=0, size=256, seed=0)
    return list_chips([root / "train-jpg"], JPG.suffixes), "synthetic 256 px chips"


def synthetic_history(side: int, dates: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of side x side cells over `dates` dates: forest that turns to fields or roads
    now and then (and mostly stays), cloud on a tenth, a few cells never read."""
    rng = np.random.default_rng(seed)
    cells = side * side
    probs = np.full((dates, cells, NUM_LABELS), 0.02, np.float32)
    probs[:, :, LABEL_INDEX["primary"]] = probs[:, :, LABEL_INDEX["clear"]] = 0.95
    changed = np.zeros(cells, bool)
    for t in range(dates):
        changed |= rng.random(cells) < 0.02
        changed &= rng.random(cells) > 0.1  # some go back to forest
        probs[t, changed, LABEL_INDEX["agriculture"]] = 0.9
        probs[t, changed & (rng.random(cells) < 0.3), LABEL_INDEX["road"]] = 0.9
        cloudy = rng.random(cells) < 0.1
        probs[t, cloudy, LABEL_INDEX["cloudy"]] = 0.95
    read = rng.random((dates, cells)) > 0.01
    return probs, read


def bench_alerts(paths: list[Path], args: argparse.Namespace, workdir: Path, side: int = 316, dates: int = 10) -> list:
    """Monitor's alert logic on 100,000 cells x 10 dates (states, alerts, polygons, two regions'
    totals) against predicting those cell-chips, at the rate `map` predicts them here (test_resnet,
    32 px, D4 TTA; measured on 600 chips and scaled). Peak memory of the alert logic is traced."""
    import tracemalloc

    import geopandas as gpd
    import shapely

    from amazon_cls.geo.change.alerts import Rules, find_alerts, states_of
    from amazon_cls.geo.change.polygons import alert_cells, merged, region_totals
    from amazon_cls.geo.grid import Grid
    from amazon_cls.geo.scene import Footprint

    probs, read = synthetic_history(side, dates)
    footprint = Footprint(CRS.from_epsg(32721), Affine(3.0, 0, 500_000.0, 0, -3.0, 9_650_000.0), side * 64, side * 64)
    grid = Grid(side, side, 64, 64, np.ones((side, side), bool), side * 64, side * 64)
    left, bottom, right, top = footprint.bounds
    middle = (left + right) / 2
    boxes = [shapely.box(left, bottom, middle, top), shapely.box(middle, bottom, right, top)]
    halves = gpd.GeoDataFrame({"name": ["west", "east"]}, crs=footprint.crs, geometry=boxes)
    tracemalloc.start()
    start = time.perf_counter()
    rules = Rules(np.full(NUM_LABELS, 0.5))
    alerts = find_alerts(states_of(probs, read, rules), rules)
    polygons = merged(alert_cells(alerts, grid, footprint), grid)
    region_totals(polygons, halves, "name")
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    (workdir / "alerts").mkdir(exist_ok=True)
    rate = bench_map(paths, args, workdir / "alerts", rounds=1)[1][1]  # chips/s of an uncompressed scene
    name = (
        f"monitor: alerts, polygons, regions of {side * side:,} cells x {dates} dates ({len(alerts):,} "
        f"cell alerts, {len(polygons):,} polygons, peak {peak:.0f} MB) vs predicting the cells"
    )
    return [(name, seconds, side * side * dates / rate, ("<= 10 s", "s"))]


def bench_errors(workdir: Path, rounds: int = 3) -> list[tuple]:
    """Seconds from `python -m amazon_cls.train data.batch_size=abc` to its one-line error, against
    what it would take if the check came after the heavy imports (`import lightning, timm`). Best of
    `rounds` each; the target is the error within 3 s."""

    def seconds(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, text=True, check=False)
        return time.perf_counter() - start

    error = [sys.executable, "-m", "amazon_cls.train", "data.batch_size=abc", f"hydra.run.dir={workdir / 'error'}"]
    imports = [sys.executable, "-c", "import lightning, timm"]
    best = [min(seconds(command) for _ in range(rounds)) for command in (error, imports)]
    return [("config error: seconds to the message vs the imports it no longer waits for", *best, ("<= 3 s", "s"))]


def print_hardware(workers: int) -> None:
    """Where the figures below come from, and what `auto` chooses here."""
    print("\n".join(["Hardware:", *(f"  {line}" for line in hardware.describe())]))
    choices = hardware.resolve()
    print("\n".join(["auto chooses:", *(f"  {choice.describe(key)}" for key, choice in choices.items())]))
    print(f"(the loader measurements use {workers} workers)\n", flush=True)


def print_table(rows: list[tuple]) -> None:
    """Each row in its own unit: chips (or images) per second, where more is better; seconds (a
    target given as (target, "s")), where less is; the ratio is how many times ours is better."""
    print(f"\n{'measurement':<92} {'ours':>12} {'other':>12} {'ratio':>9}  target")
    for name, ours, other, target in rows:
        target, unit = target if isinstance(target, tuple) else (target, "/s")
        ratio = other / ours if unit == "s" else ours / other
        print(f"{name:<92} {ours:>10.3g} {unit:<2}{other:>10.3g} {unit:<2}{ratio:>8.2f}x  {target}")


# Each measurement: (chips, command-line arguments, a scratch folder) -> rows (name, ours, other, target);
# ours and other are rates (/s), or seconds where the target is given as (target, "s").
MEASUREMENTS: dict[str, Callable[[list[Path], argparse.Namespace, Path], list[tuple]]] = {
    "loader": lambda paths, args, workdir: bench_loaders(
        paths, args, ChipClassifier(backbone=args.backbone, pretrained=False), workdir
    ),
    "framework": lambda paths, args, workdir: [bench_framework(paths, args, workdir)],
    "thresholds": lambda paths, args, workdir: [bench_thresholds()],
    "precision": lambda paths, args, workdir: bench_precision(args),
    "tcmalloc": lambda paths, args, workdir: [row for row in [bench_tcmalloc(args)] if row],
    "map": lambda paths, args, workdir: bench_map(paths, args, workdir),
    "errors": lambda paths, args, workdir: bench_errors(workdir),
    "alerts": bench_alerts,
    "warped": bench_warped,
}
