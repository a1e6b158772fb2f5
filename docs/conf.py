# Sphinx configuration of the lrc_nb docs site (built by docs/build.py, never edited as HTML).
#
# The sources Sphinx reads are the notebooks in nbs/, executed into a temporary copy and run through
# nbdev's processors (show_doc, #| hide, #| export) by docs/build.py; MyST-NB renders them without
# executing anything again. Every script, style sheet and font is served from the site itself: the
# widget manager, RequireJS and MathJax come from the npm registry at build time (docs/build.py puts
# them in docs/_build/static), never from a CDN when a page is viewed.
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ini = configparser.ConfigParser()
_ini.read(ROOT / "settings.ini")
_cfg = _ini["DEFAULT"]

project = _cfg["lib_name"]
author = _cfg["author"]
copyright = _cfg["copyright"]
release = version = _cfg["version"]

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "html_image", "attrs_inline", "attrs_block"]
myst_heading_anchors = 3
# nbdev links names to their pages (page.html#name); docs/build.py writes them as lrcdoc:page.html#name
# so that MyST keeps them as plain relative links.
myst_url_schemes = {"http": None, "https": None, "mailto": None, "ftp": None,
                    "lrcdoc": {"url": "{{path}}#{{fragment}}", "classes": ["lrc-doclink"]}}

# The notebooks were executed by docs/build.py (with widget state saved); never execute here.
nb_execution_mode = "off"
# show_doc prints Markdown (tables, links with attributes): render it with MyST like the cells.
nb_render_markdown_format = "myst"
# Warnings and progress bars on stderr are noise on a docs page.
nb_output_stderr = "remove"
nb_merge_streams = True
# Widget JavaScript from this site's _static folder (see docs/build.py); a widget whose module is
# not bundled with the html manager would be fetched from data-jupyter-widgets-cdn: point it at the
# site too, so such a widget fails visibly (404 in the console) instead of calling a CDN.
nb_ipywidgets_js = {
    "require.js": {},
    "widgets-config.js": {},
    "widgets/embed-amd.js": {"data-jupyter-widgets-cdn": "_static/widgets/cdn-disabled/"},
}

# MathJax 3 from the site, not from a CDN.
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "furo"
html_title = f"{project} {release}"
html_static_path = ["_static", str(ROOT / "docs" / "_build" / "static")]
html_css_files = ["lrc_nb.css"]
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
