"""Likenesses: images where a face detector fires but no person was photographed, as `real`
training and evaluation data: photos of statues, paintings and drawn portraits, cartoons,
and photos of animals (monkeys, dogs), from the sample folders and data sets of public
repositories, each pinned to a commit, one source per repository.

A statue's face scored 99% generated and the report claimed a face swap: the faces analyzer
had only seen photographed people, so it judged every face the detector found as one. This
corpus gives it faces that are not photographed people, labelled real (human-made objects and
artworks, and animals). Nothing in it is AI-generated: every source was looked at (a contact
sheet of what it keeps) and predates or names its origin. Built at training time into the
cache, with the machinery of the photos corpus (datasets/photos.py: refused names, pinned
commits read with `git cat-file`, provenance per file, size filter, deduplication, caps):

    synthcheck data likenesses --repos ~/repos   # -> $SYNTHCHECK_CACHE/data/likenesses/manifest.csv

Files land under `real/<source>/`; the manifest's `label` is real and `category` one of
CATEGORIES (statue, painting, drawing, mask, figurine, animal). Configs name the corpus
`cache:data/likenesses`. Sources reserved for evaluation (datasets/reserved.py) and sources
already in ../shared (photos.ALREADY_IN_SHARED) are refused by name before anything is fetched;
files that the photos corpus already takes (the style images of its neural-style sources) are
left out by name. The source table, with counts, face detections, licenses and what was left
out, is datasets/LIKENESSES.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .photos import PhotoSource, build as _build

CAP = 100  # at most this many images per source, a sample by content hash
CATEGORIES = frozenset({"statue", "painting", "drawing", "mask", "figurine", "animal"})


def _source(name: str, repository: str, commit: str, category: str, license: str, include: Sequence[str],
            cap: int | None = CAP, **kwargs) -> PhotoSource:
    return PhotoSource(name, category, license, repository=repository, commit=commit, include=tuple(include), cap=cap,
                       **kwargs)


_R = "research use"
# The source table: datasets/LIKENESSES.md lists it with counts and face detections. `license` is what the
# repository's LICENSE states, and where the images come from when the repository did not make them. Every
# include list names the folders (or files) of likenesses only: photos of people (content images, CelebA,
# PACS's photo domain), results of models, figures and screenshots are left out by name.
SOURCES: tuple[PhotoSource, ...] = (
    # --- statues
    _source("thai-buddha-statues", "robinoud/BADS7604_HW4_Transfer_Learning",
            "b412b002fb63dc81962008a81ef32dd5d4b98546", "statue",
            f"no licence stated; photos from Thai amulet and statue dealers' websites, collected 2022 ({_R})",
            ["Image_Dataset"],
            # a person (hands, shirt) holds the statue, or a hand is in the frame
            exclude=("Image_Dataset/Thong/431.png", "Image_Dataset/Thong/432.png", "Image_Dataset/Toh/162.png"),
            note="photos of five Thai Buddha statues and their small replicas (seated and standing), collected "
                 "March 2022 for a transfer-learning homework"),
    # --- paintings and drawings
    _source("pacs-art-people", "MachineLearning2020/Homework3-PACS", "d586a6cf3db84896fb6cc465c7bf51bdaf6d65d8",
            "painting", f"no licence file; PACS (Li et al., ICCV 2017) images collected from the web ({_R})",
            ["PACS/art_painting/person", "PACS/sketch/person"], categories=(("PACS/sketch/*", "drawing"),),
            exclude=("PACS/art_painting/person/pic_032.jpg",),  # a photo of a painter's hand at work
            note="PACS's paintings of people and hand-drawn sketches of people (227 px); its photo, cartoon and "
                 "animal domains left out"),
    _source("jojogan-styles", "mchong6/JoJoGAN", "ff33d3f541a8deccc6df85f053286ac8c88f7526", "drawing",
            "MIT (code); reference images from the web (comics, anime, pencil sketches, film stills)",
            ["style_images", "style_images_aligned"],
            exclude=("style_images_aligned/sketch.png",  # a crop of style_images/sketch.jpeg
                     "style_images_aligned/art.png"),  # a digital painting of unknown origin
            note="style references: pencil sketches, comic and anime faces, Arcane and Disney film stills"),
    _source("dualstylegan-styles", "williamyang1991/DualStyleGAN", "b3f0cf8e9e07ad002f9df07981e2eecaf0569191",
            "drawing", f"S-Lab License 1.0 (non-commercial); Toonify cartoons, WebCaricature, Danbooru ({_R})",
            ["data/cartoon", "data/caricature", "data/anime"],
            note="style examples: cartoon film characters, drawn caricatures, anime; data/content (photos of "
                 "people) left out"),
    _source("linear-style-art", "sunshineatnoon/LinearStyleTransfer", "188e8e5b2ad9dbb00bed6317eb1280ecde48c657",
            "painting", "BSD-2-Clause (code); style images from the web",
            ["data/style"], exclude=("data/style/picasso_self_portrait.jpg",),  # in the photos corpus (AdaIN)
            categories=(("*/sketch.jpg", "drawing"), ("*/3314.jpg", "drawing")),
            note="style images: a pencil portrait, an ink caricature, a watercolour portrait, abstracts"),
    _source("artflow-portraits", "pkuanjie/ArtFlow", "bbc33ecb745989efc9ef937118c60cbcee4153b2", "painting",
            "no licence stated; style images from the web",
            ["data/style/654d10cd803dcdc4469f6fccd236b8c9.jpg",
             "data/style/famous-paintings-and-add-beer-14__880 - 01.jpg",
             "data/style/modern-indian-artists-paintings-and-buy-authentic-indian-contemporary-art-and-modern-"
             "paintings-in-india-1.jpg"],
            note="three style images with people: a Van Gogh self-portrait, Magritte's Son of Man (edited), a "
                 "modern Indian painting; the rest are landscapes or already in the photos corpus"),
    _source("multistyle-portraits", "zhanghang1989/PyTorch-Multi-Style-Transfer",
            "75d256049a6af7ceccae01bd5c472556478048ea", "painting", "MIT (code); style images from the web",
            ["experiments/images/21styles/Robert_Delaunay,_1906,_Portrait.jpg",
             "experiments/images/21styles/pencil.jpg", "experiments/images/21styles/la_muse.jpg"],
            categories=(("*/pencil.jpg", "drawing"),),
            note="the style images with people that the photos corpus does not already take (Delaunay's 1906 "
                 "portrait, a pencil portrait, Picasso's La Muse)"),
    # --- animals
    _source("monkey-species", "nikhildutta333/Monkey-Species-Classification",
            "cb62130b182246b59ed74614734320e61eb6aacc", "animal",
            "no licence file; the Kaggle 10 Monkey Species data set (CC0-1.0)",
            [f"{split}/{label}" for split in ("training", "validation") for label in ("n2", "n3", "n5", "n6", "n7")],
            exclude=("training/n2/n2037.jpg",),  # a woman holding two uakaris
            note="photos of bald uakaris, Japanese macaques, white-headed capuchins, silvery marmosets and "
                 "squirrel monkeys (the species whose faces the detector finds most)"),
    _source("dog-breeds", "udacity/dog-project", "1c034a6e24dc6228cdd8e76faedb8445e986f378", "animal",
            "MIT (Udacity); photos from the Stanford Dogs / ImageNet collections",
            ["images/*_0*.jpg"], note="photos of dogs (the sample_* figures and the human sample left out)"),
)


def build(out: Path, sources: Sequence[PhotoSource] | None = None, repos: Path | None = None, clone: bool = True,
          log=print) -> Path:
    """The likenesses corpus at `out` (out/real/<source>/..., out/manifest.csv): photos.build over the
    likeness source table (SOURCES unless `sources` is given). Returns the manifest's path."""
    sources = SOURCES if sources is None else sources
    if any(s.label != "real" for s in sources):
        raise ValueError("the likenesses corpus takes real sources only")
    for source in sources:
        if source.category not in CATEGORIES or any(c not in CATEGORIES for _, c in source.categories):
            raise ValueError(f"{source.name}: a likeness category is one of {sorted(CATEGORIES)}")
    return _build(out, sources, repos=repos, clone=clone, log=log)
