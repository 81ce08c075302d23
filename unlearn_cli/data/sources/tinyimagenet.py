"""Tiny-ImageNet (200 classes, 64x64) from the official folder or zip, or NatMU's .npy files.

Official layout (`tiny-imagenet-200/`): `wnids.txt` fixes the class order,
`train/<wnid>/images/*.JPEG` are the training images, and `val/images/*.JPEG` labelled by
`val/val_annotations.txt` are the test split (the official test set has no labels).
NatMU's layout: `{train,val}_{data,label}.npy`, data as CHW uint8 (N, 3, 64, 64).
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from unlearn_cli.data.sources.archive import ArchiveLimits
from unlearn_cli.data.sources.base import (
    DATASETS,
    DatasetSource,
    DownloadSpec,
    RawDataset,
    Split,
    as_labels,
    check_labels,
    require_path,
)
from unlearn_cli.data.sources.locate import find_root, open_source
from unlearn_cli.data.sources.npy import read_npy
from unlearn_cli.data.sources.tree import SourceTree, join
from unlearn_cli.errors import DataError

IMAGE_SHAPE = (64, 64, 3)
NUM_CLASSES = 200

TINYIMAGENET_DOWNLOAD = DownloadSpec(
    url="http://cs231n.stanford.edu/tiny-imagenet-200.zip",
    filename="tiny-imagenet-200.zip",
    md5="90528d7ca1a48142e341f4ef8d21d0de",
)

# What a Tiny-ImageNet archive may inflate to: the official zip holds ~120 000 small files
# (~0.3 GB); NatMU's .npy layout ~1.35 GB, its train_data.npy alone 1.23 GB.
TINYIMAGENET_LIMITS = ArchiveLimits(max_total_bytes=2 << 30, max_member_bytes=3 << 29, max_members=200_000)

_FOLDER = "tiny-imagenet-200"
_NATMU_FILES = ("train_data.npy", "train_label.npy", "val_data.npy", "val_label.npy")
_JPEG_SUFFIXES = (".jpeg", ".jpg")
_LAYOUT_HINT = (f"pass {TINYIMAGENET_DOWNLOAD.filename}, its extracted {_FOLDER}/ folder, "
                "or a folder with NatMU's train_data.npy, train_label.npy, val_data.npy, "
                "val_label.npy")
_CORRUPT = "the file is corrupt or not from Tiny-ImageNet; re-download it"


def read_tinyimagenet(path: Path | None) -> RawDataset:
    """Tiny-ImageNet from the official layout (folder, its parent, or zip) or NatMU's."""
    source = require_path(path, "tinyimagenet")
    with open_source(source, TINYIMAGENET_LIMITS) as tree:
        official = find_root(tree, (_FOLDER, ""), "wnids.txt")
        natmu = find_root(tree, ("",), _NATMU_FILES[0])
        # NatMU folders may carry a wnids.txt for names, but never the train/ tree.
        if natmu is not None and (official is None or not tree.is_dir(join(official, "train"))):
            return _read_natmu(tree, natmu)
        if official is not None:
            return _read_official(tree, official)
        raise DataError(
            f"{source}: not a Tiny-ImageNet source (expected {_FOLDER}/wnids.txt or "
            f"{_NATMU_FILES[0]})",
            hint=_LAYOUT_HINT,
        )


# ---------------------------------------------------------------- class names


def _text(tree: SourceTree, name: str) -> str:
    try:
        return tree.read(name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{tree.describe(name)}: not UTF-8 text ({exc.reason})",
                        hint=_CORRUPT) from None


def _read_wnids(tree: SourceTree, prefix: str) -> list[str]:
    name = join(prefix, "wnids.txt")
    wnids = [line.strip() for line in _text(tree, name).splitlines() if line.strip()]
    if not wnids:
        raise DataError(f"{tree.describe(name)}: lists no classes", hint=_CORRUPT)
    dupes = [w for w, n in Counter(wnids).items() if n > 1]
    if dupes:
        raise DataError(f"{tree.describe(name)}: class {dupes[0]} is listed twice",
                        hint=_CORRUPT)
    return wnids


def _class_names(tree: SourceTree, prefix: str, wnids: list[str]) -> list[str]:
    """Readable names from `words.txt` (wnid TAB names) where present, else the wnid.

    words.txt covers all of WordNet; a name shared by two classes gets its wnid appended
    so class names stay unique.
    """
    words_name = join(prefix, "words.txt")
    if not tree.is_file(words_name):
        return list(wnids)
    wanted = set(wnids)
    words: dict[str, str] = {}
    for line in _text(tree, words_name).splitlines():
        wnid, _, text = line.partition("\t")
        if wnid.strip() in wanted and text.strip():
            words[wnid.strip()] = text.strip()
    names = [words.get(w, w) for w in wnids]
    counts = Counter(names)
    return [f"{n} ({w})" if counts[n] > 1 else n for n, w in zip(names, wnids, strict=True)]


# ---------------------------------------------------------------- official layout


def _decode(tree: SourceTree, name: str) -> np.ndarray:
    """One JPEG as (64, 64, 3) uint8; greyscale files (Tiny-ImageNet has some) become RGB."""
    where = tree.describe(name)
    data = tree.read(name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            # Checked before decoding: the header gives the size, so an oversized image
            # is refused without spending memory on it.
            width, height = image.size
            if (height, width) != IMAGE_SHAPE[:2]:
                raise DataError(
                    f"{where}: image is {height}x{width} pixels (height x width), "
                    f"expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}",
                    hint="Tiny-ImageNet images are all 64x64; this file was modified",
                )
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:
        # PIL reports bad files through many types (UnidentifiedImageError, OSError for
        # truncation, SyntaxError, DecompressionBombError, ...): all mean "unreadable".
        raise DataError(f"{where}: not a readable image ({type(exc).__name__}: {exc})",
                        hint=_CORRUPT) from None


def _decode_all(tree: SourceTree, names: list[str]) -> np.ndarray:
    images = np.empty((len(names), *IMAGE_SHAPE), dtype=np.uint8)
    for i, name in enumerate(names):
        images[i] = _decode(tree, name)
    return images


def _train_files(tree: SourceTree, prefix: str, wnids: list[str]) -> tuple[list[str], np.ndarray]:
    names: list[str] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        folder = join(prefix, f"train/{wnid}/images")
        found = [n for n in tree.list_files(folder) if n.lower().endswith(_JPEG_SUFFIXES)]
        if not found:
            raise DataError(
                f"expected JPEG images in {tree.describe(folder)}/ for class {wnid}",
                hint="every class in wnids.txt needs a train/<wnid>/images/ folder; "
                + _LAYOUT_HINT,
            )
        names.extend(found)
        labels.extend([label] * len(found))
    return names, np.asarray(labels, dtype=np.int64)


def _val_files(tree: SourceTree, prefix: str, wnids: list[str]) -> tuple[list[str], np.ndarray]:
    """Validation images and labels from val_annotations.txt (file TAB wnid TAB bbox...),
    sorted by file name."""
    ann = join(prefix, "val/val_annotations.txt")
    if not tree.is_file(ann):
        raise tree.missing(ann, hint=_LAYOUT_HINT)
    where = tree.describe(ann)
    index = {w: i for i, w in enumerate(wnids)}
    entries: dict[str, int] = {}
    for lineno, line in enumerate(_text(tree, ann).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{where}, line {lineno}: expected 'file<TAB>wnid...'",
                            hint=_CORRUPT)
        file, wnid = fields[0].strip(), fields[1].strip()
        # The file name becomes a path: a plain name only, never a way out of val/images.
        if not file or "/" in file or "\\" in file or file in (".", ".."):
            raise DataError(f"{where}, line {lineno}: '{file}' is not a plain file name",
                            hint=_CORRUPT)
        if wnid not in index:
            raise DataError(f"{where}, line {lineno}: class {wnid} is not in wnids.txt",
                            hint="the annotations do not match wnids.txt; " + _CORRUPT)
        if file in entries:
            raise DataError(f"{where}, line {lineno}: {file} is annotated twice", hint=_CORRUPT)
        entries[file] = index[wnid]
    if not entries:
        raise DataError(f"{where}: annotates no images", hint=_CORRUPT)
    files = sorted(entries)
    names = [join(prefix, f"val/images/{f}") for f in files]
    for name in names:
        if not tree.is_file(name):
            raise tree.missing(name, hint="val_annotations.txt lists an image that is not there")
    return names, np.asarray([entries[f] for f in files], dtype=np.int64)


def _read_official(tree: SourceTree, prefix: str) -> RawDataset:
    wnids = _read_wnids(tree, prefix)
    class_names = _class_names(tree, prefix, wnids)
    train_names, train_labels = _train_files(tree, prefix, wnids)
    test_names, test_labels = _val_files(tree, prefix, wnids)
    train_images = _decode_all(tree, train_names)
    test_images = _decode_all(tree, test_names)
    return RawDataset(
        train=Split(train_images, train_labels),
        test=Split(test_images, test_labels),
        class_names=class_names,
        extra_names={},
        source_files=tree.source_files(),
    )


# ---------------------------------------------------------------- NatMU's .npy layout


def _load_npy(tree: SourceTree, name: str) -> np.ndarray:
    if not tree.is_file(name):
        raise tree.missing(name, hint=_LAYOUT_HINT)
    where = tree.describe(name)
    try:
        with tree.open(name) as f:
            # Never np.load: it allocates whatever shape the header declares, and an
            # object array would be a pickle, i.e. code on load.
            return read_npy(f)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{where}: not a readable .npy array ({exc})", hint=_CORRUPT) from None


def _natmu_split(tree: SourceTree, prefix: str, split: str, num_classes: int) -> Split:
    data_name = join(prefix, f"{split}_data.npy")
    label_name = join(prefix, f"{split}_label.npy")
    data = _load_npy(tree, data_name)
    where = tree.describe(data_name)
    if data.dtype != np.uint8 or data.ndim != 4:
        raise DataError(f"{where}: expected uint8 images (N, 3, 64, 64), got {data.dtype} "
                        f"{data.shape}", hint=_CORRUPT)
    if data.shape[1:] == (3, *IMAGE_SHAPE[:2]):
        images = np.ascontiguousarray(data.transpose(0, 2, 3, 1))  # NatMU stores CHW
    elif data.shape[1:] == IMAGE_SHAPE:
        images = np.ascontiguousarray(data)  # already HWC: accepted as it is unambiguous
    else:
        raise DataError(f"{where}: expected images of shape (N, 3, 64, 64), got {data.shape}",
                        hint="Tiny-ImageNet images are 64x64 RGB")
    label_where = tree.describe(label_name)
    labels = as_labels(_load_npy(tree, label_name), label_where, "labels")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{label_where}: {labels.shape[0]} labels for {images.shape[0]} "
                        f"images in {where}", hint=_CORRUPT)
    check_labels(labels, num_classes, label_where)
    return Split(images, labels)


def _read_natmu(tree: SourceTree, prefix: str) -> RawDataset:
    if tree.is_file(join(prefix, "wnids.txt")):
        class_names = _class_names(tree, prefix, _read_wnids(tree, prefix))
    else:
        class_names = [str(i) for i in range(NUM_CLASSES)]
    train = _natmu_split(tree, prefix, "train", len(class_names))
    test = _natmu_split(tree, prefix, "val", len(class_names))
    return RawDataset(train, test, class_names, {}, tree.source_files())


DATASETS.add("tinyimagenet", DatasetSource(
    name="tinyimagenet",
    num_classes=NUM_CLASSES,
    image_shape=IMAGE_SHAPE,
    description="Tiny-ImageNet: 100 000 / 10 000 colour images 64x64, 200 classes "
    "(official val = test); official folder or zip, or NatMU's .npy files",
    read=read_tinyimagenet,
    download=TINYIMAGENET_DOWNLOAD,
))
