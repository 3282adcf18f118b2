"""The MACs and NIfTI-memory tables are computed from result lines (benchmarks/macs.py, bench_nifti_memory.py)."""

from __future__ import annotations

import sys

PROVENANCE = {"command": "python benchmarks/x.py", "commit": "a" * 40, "version": "0", "torch": "2.0",
              "device": "cpu: test", "threads": 2}


def test_macs_table_sums_the_reference_unet_and_the_backbone_and_keeps_the_last_line(load_benchmark):
    macs = load_benchmark("macs")
    ref = macs.REFERENCE
    records = [
        {"part": "dissolver", "network": "tiny", "resolution": 32, "params": 1_000_000, "flops": 2_000_000_000,
         "thop_macs": 1_000_000_000, **PROVENANCE},
        {"part": "dissolver", "network": ref, "resolution": 32, "params": 2_000_000, "flops": 4_000_000_000,
         "thop_macs": 500_000_000, "package": "ddp", "package_version": "1", **PROVENANCE},
        {"part": "backbone", "network": "resnet18_imagenet", "width": 64, "resolution": 224, "params": 3_000_000,
         "flops": 6_000_000_000, "thop_macs": 3_000_000_000, **PROVENANCE},
        {"part": "dissolver", "network": "tiny", "resolution": 32, "params": 1_000_000, "flops": 8_000_000_000,
         "thop_macs": 4_000_000_000, **PROVENANCE},  # a rerun replaces the earlier line
    ]
    table = macs.report(records)
    lines = table.splitlines()
    assert lines[2] == f"| the reference's `{ref}` | 2.00 | 2.000 | 0.500 |"  # listed first
    assert lines[3] == "| `tiny` | 1.00 | 4.000 | 4.000 |"
    assert lines[4] == "| the reference's UNet + ResNet-18 (ImageNet stem, 224 px) | 5.00 | 5.000 | 3.500 |"
    assert "| ResNet-18, ImageNet stem, width 64 (`resnet18_imagenet`) | 224 px | 3.00 | 3.000 | 3.000 |" in lines
    assert table.endswith("\n") and macs.report(records) == table
    assert macs.report([]) == "not measured yet\n"


def test_macs_import_is_light(load_benchmark):
    before = set(sys.modules)
    load_benchmark("macs")
    assert "torch.utils.flop_counter" not in set(sys.modules) - before


def test_nifti_memory_table_names_the_reader_of_each_line(load_benchmark):
    nifti = load_benchmark("bench_nifti_memory")
    volume = {"name": "ct.nii.gz", "shape": [4, 4, 3], "dtype": "int16", "mib_on_disk": 1.0}
    common = {"volume": volume, "count": 1, "python": "3.11", "nibabel": "5", "numpy": "2", "cpu_count": 2,
              "loadavg_1m": 1.0, "seconds": 1.25, **PROVENANCE}
    records = [
        {"case": "package", "window": None, "before_mib": 100, "after_mib": 110, "this_checkout": True,
         "package_commit": "a" * 40, **common},
        {"case": "package", "window": None, "before_mib": 100, "after_mib": 900, "this_checkout": False,
         "package_commit": "b" * 40, **common},
        {"case": "whole-volume", "window": "lung", "before_mib": 100, "after_mib": 700, "this_checkout": True,
         "package_commit": "a" * 40, **common},
    ]
    lines = nifti.report(records).splitlines()
    assert lines[2].startswith("| `read_nifti_slice` of this version (`package`) | the volume's min-max (default) | 1 |")
    assert "**10 MiB**" in lines[2] and "1.2 s" in lines[2]
    assert lines[3].startswith("| `read_nifti_slice` of commit bbbbbbb (`package`")
    assert "**800 MiB**" in lines[3]
    assert lines[4].startswith("| the earlier reader's steps") and "| `lung` |" in lines[4]
    assert nifti.report([]) == "not measured yet\n"
