"""Training, calibration and evaluation of synthcheck's models, beside the runtime (models/):
the runtime never imports this package (tests/test_runtime_imports.py checks it). Most of it
needs the `train` extra (torch for fitting, the Real-ESRGAN upsampler for aligned fakes).

    commands.py       the CLI commands it adds to `synthcheck`: train, calibrate, eval, data
    clip_probe.py     the CLIP head's trainer (configs/clip-v4.json), its card README
    face_probe.py     the face head's trainer (configs/faces-v1.json), its card README
    source_folds.py   leave-source-out folds: held-out-source logits, temperature, card tables
    calibrate.py      scalings compared on held-out sources (cross-fitted)
    evaluate.py       AUC, AP, ECE, real at `high`, per group, clean and laundered
    metrics.py        the metrics and the web's treatments of an image (launder, web views)
    cards.py          card.json and its README, written together
    configs/          the configs of the shipped models
    experiments/      measurements behind every choice (README.md), retired models' cards"""
