from setuptools import find_packages, setup

setup(
    name="idm",
    version="0.1.0",
    description="Drum source separation and transcription with the Inverse Drum Machine",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[f"{p}{s}" for p in ("idm", "data", "trainer", "evaluation", "baselines")
                                    for s in ("", ".*")]),
    package_data={"idm": ["models/*.pt", "models/*.md"]},  # the models that ship with the package
    install_requires=[
        "torch>=2.4",
        "torchaudio>=2.4",
        "numpy",
        "soundfile",
        "pyyaml",
        "tensorboard",
        "tqdm",
        "mir_eval",
        "matplotlib",  # the PNG plots of `make eval` (per-class bars with intervals, waveforms, piano rolls)
    ],
    extras_require={"test": ["pytest", "mido>=1.3"]},  # mido: an independent MIDI reader for the tests
    entry_points={"console_scripts": ["idm = idm.cli:main"]},
)
