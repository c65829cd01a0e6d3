// Served as text/javascript; proves module scripts load from staticsrv.
document.getElementById("js-check").textContent = "JavaScript ran (served as a module).";
