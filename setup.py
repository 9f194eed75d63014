"""Installs the ``maskformer`` package (see README.md for the one-line install)."""

from setuptools import find_packages, setup

setup(
    name="maskformer",
    version="0.1.0",
    description="MaskFormer and Mask2Former: mask-classification image segmentation",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["maskformer", "maskformer.*"]),
    package_data={"maskformer": ["data/datasets/metadata/*.json"]},
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "timm>=0.9",
        "fvcore>=0.1.5",
        "iopath>=0.1.9",
        "pycocotools>=2.0.7",
        "scipy>=1.9",
        "numpy>=1.24",
        "opencv-python-headless>=4.7",
        "pillow>=9.0",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "safetensors>=0.4",
        "tensorboard>=2.12",
    ],
    extras_require={
        "cityscapes": ["cityscapesscripts>=2.2", "pyquaternion>=0.9"],
        # ONNX export (torch.onnx's dynamo exporter needs onnxscript) and onnxruntime inference.
        "export": ["onnx>=1.17", "onnxscript>=0.5", "onnxruntime>=1.20"],
        "dev": [
            "pytest>=7.4",
            "pytest-timeout>=2.2",
            "ruff>=0.6",
            "transformers>=4.45",
            "imgviz>=1.7",
            "onnx>=1.17",
            "onnxscript>=0.5",
            "onnxruntime>=1.20",
        ],
    },
)
