// The widget manager (embed-amd.js) derives where its fonts live from its AMD module ids
// (@jupyter-widgets/base, @jupyter-widgets/html-manager/dist/...). Map those ids to the copy in this
// site's _static/widgets, next to the fonts docs/build.py put there, so nothing is fetched elsewhere.
// Loaded after require.js and before embed-amd.js (docs/conf.py, nb_ipywidgets_js).
require.config({
  paths: {
    "@jupyter-widgets/html-manager/dist": "_static/widgets",
    "@jupyter-widgets": "_static/widgets"
  }
});
