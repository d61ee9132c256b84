// Starts ReDoc on /redoc (hpf.web.docs): no inline script under the Content-Security-Policy.
(function () {
  "use strict";
  var el = document.getElementById("redoc");
  Redoc.init(el.dataset.openapiUrl, {}, el);
})();
