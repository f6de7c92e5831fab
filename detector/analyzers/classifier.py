"""The learned classifier as an analyzer: it needs pixels only, so it is the one
check that still works on screenshots and re-uploads with no metadata at all. The
model is loaded on first use (once per process), never at construction."""

from __future__ import annotations

from functools import cached_property

from ..fusion import classifier_evidence
from ..image_input import ImageInput
from .base import AnalyzerBase, Findings

SOURCE = "classifier"


class ClassifierAnalyzer(AnalyzerBase):
    name = SOURCE
    needs_pixels = True

    def handles(self, media_type: str) -> bool:
        return self.options.classifier is not None

    @cached_property
    def model(self):
        from ..models import load_classifier, resolve

        return load_classifier(resolve(self.options.classifier))

    def analyze(self, image: ImageInput) -> Findings:
        result = self.model.predict(image.rgb)
        return Findings(evidence=[classifier_evidence(result)], classifier=result)
