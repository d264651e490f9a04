"""A self-contained API reference page: it renders /api/doc in the browser, no CDN needed."""

REFERENCE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cronpilot API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#1b1f24}
h1{margin-bottom:0}code,pre{font-family:ui-monospace,monospace;font-size:13px}
section{border-top:1px solid #ddd;padding:.6rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:700}
.GET{color:#0a6}.POST{color:#06c}.PATCH{color:#a60}.DELETE{color:#c22}
details pre{background:#f6f8fa;padding:.6rem;overflow:auto}
</style></head><body>
<h1>Cronpilot API</h1><p id="intro">Loading <a href="doc">/api/doc</a>&hellip;</p>
<div id="ops"></div>
<script>
fetch('doc').then(r => r.json()).then(doc => {
  document.getElementById('intro').textContent = doc.info.description;
  const ops = document.getElementById('ops');
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const s = document.createElement('section');
      const head = document.createElement('div');
      const m = document.createElement('span');
      m.className = 'm ' + method.toUpperCase(); m.textContent = method.toUpperCase();
      const p = document.createElement('code'); p.textContent = path;
      head.append(m, p, document.createTextNode(' \u2014 ' + op.summary));
      s.append(head);
      if (op.description) {
        const d = document.createElement('p'); d.textContent = op.description; s.append(d);
      }
      const det = document.createElement('details');
      const sum = document.createElement('summary'); sum.textContent = 'schema';
      const pre = document.createElement('pre');
      const ref = op.requestBody && op.requestBody.content['application/json'].schema.$ref;
      const body = ref ? doc.components.schemas[ref.split('/').pop()] : null;
      pre.textContent = JSON.stringify({parameters: op.parameters, requestBody: body,
        responses: Object.keys(op.responses)}, null, 2);
      det.append(sum, pre); s.append(det); ops.append(s);
    }
  }
});
</script></body></html>
"""
