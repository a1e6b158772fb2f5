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

// The widget manager 1.x typesets Label/HTML views with MathJax 2's `MathJax.Hub.Queue` whenever `window.MathJax`
// exists; this site bundles MathJax 3 (only on pages with math), which has no `Hub`, so those views threw
// "Cannot read properties of undefined (reading 'Queue')". Keep a `Hub.Queue` on whatever `window.MathJax` is
// (Sphinx's config object, then MathJax 3 itself when it replaces it) that asks MathJax 3 to typeset the page.
(function () {
  function shim(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      Object.defineProperty(mj, "Hub", {enumerable: false, configurable: true, value: {
        Queue: function () {
          var m = window.MathJax;
          if (m && typeof m.typesetPromise === "function") m.typesetPromise().catch(function () {});
        }
      }});
    }
    return mj;
  }
  var current = shim(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true, enumerable: true,
    get: function () { return current; },
    set: function (v) { current = shim(v); }
  });
})();
