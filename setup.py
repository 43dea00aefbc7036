"""The project's C extensions; everything else about the build is in pyproject.toml.

They are declared here, not in pyproject.toml, because the HTML walk
compiles against lxml's headers, whose directory only lxml itself can say.
All are optional: without a C compiler the install still succeeds and the
same code runs in Python and numpy, slower (the server logs a warning);
`python -c "import classifier._trees, classifier._walk, classifier._features"`
says whether they were built.
"""

import lxml
from setuptools import Extension, setup

setup(ext_modules=[
    # Stage 2's trees (classifier.fastpredict).
    Extension("classifier._trees", ["classifier/_trees.c"],
              optional=True, extra_compile_args=["-O3"]),
    # The reader that cuts a page into lines as lxml's libxml2 parses it (classifier.html).
    Extension("classifier._walk", ["classifier/_walk.c"], include_dirs=lxml.get_include(),
              optional=True, extra_compile_args=["-O3"]),
    # The per-line text features (classifier.features, classifier.shape).
    # No fused multiply-adds (arm64 has them by default): the numbers must be numpy's.
    Extension("classifier._features", ["classifier/_features.c"],
              optional=True, extra_compile_args=["-O3", "-ffp-contract=off"]),
])
