"""A pytest plugin loaded before any other (``-p tools.pytest_quick_start`` in pyproject.toml's
``addopts``): it keeps a slow optional import out of every test process.

nbformat (which nbval loads into every pytest process, xdist workers and the suite's child
pytest runs included) imports jsonschema, and jsonschema imports ``rfc3987_syntax`` when it
is installed (jupyter-events' ``jsonschema[format-nongpl]`` installs it) to check the "iri"
string format. Importing it compiles 39 lark grammars: 3.2 s of CPU in each process, measured
here (``python -X importtime -c "import nbformat"``: 2.9 s, and 0.4 s without it). No test
validates an IRI, so here jsonschema goes without that one format check: an import that
finds ``None`` in ``sys.modules`` raises ImportError, which jsonschema expects of an optional
package. JupyterLab and the notebooks' kernels are left as they are.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("rfc3987_syntax", None)
