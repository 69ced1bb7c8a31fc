"""Write a Cython declaration file from its Tempita template: a build step of CMakeLists.txt.

    python tools/tempita.py src/fastgd/_k_gemm.pxd.tp <build>/fastgd/_k_gemm.pxd

A template writes each per-type declaration once, inside ``{{for T, SFX in DTYPES}}`` ...
``{{endfor}}``: ``T`` is the C element type and ``SFX`` its suffix, the pairs of
src/kernels/fg_each_type.h, which instantiates the C side the same way. Tempita ships with
Cython (``Cython.Tempita``), as scikit-learn uses it for its ``.pyx.tp`` files.
"""

import os
import sys

from Cython.Tempita import Template

DTYPES = [("float", "f32"), ("double", "f64")]


def main(template_path: str, out_path: str) -> None:
    with open(template_path, encoding="utf-8") as f:
        text = Template(f.read(), name=template_path).substitute(DTYPES=DTYPES)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(f"# Generated from {os.path.basename(template_path)} by tools/tempita.py; edit that file.\n")
        f.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tools/tempita.py TEMPLATE.pxd.tp OUT.pxd")
    main(sys.argv[1], sys.argv[2])
