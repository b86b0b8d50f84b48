# ruff: noqa: E501  (HTML templates: long lines read better than broken markup)
"""The coach's HTML pages (Jinja templates; one stylesheet, no scripts beyond the browser's own)."""

from __future__ import annotations

_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mmempathy coach{% if title %} - {{ title }}{% endif %}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:860px;margin:1.5em auto;padding:0 1em;color:#222}
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:2px solid #4a7fb5;margin-bottom:1em}
header a{color:#4a7fb5;text-decoration:none;font-weight:600}
.note{background:#fff4d6;border-left:4px solid #e0a800;padding:.4em .8em;margin:.4em 0}
.error{background:#fde2e2;border-left:4px solid #c0392b;padding:.4em .8em}
.ok{color:#1e7d32;font-weight:600}.bad{color:#b03a2e;font-weight:600}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#eef3f9}td:first-child,th:first-child{text-align:left}
.choices label{display:inline-block;margin:.2em .6em .2em 0;padding:.3em .6em;border:1px solid #aac;border-radius:4px}
button{background:#4a7fb5;color:#fff;border:0;border-radius:4px;padding:.5em 1.2em;font-size:1em;cursor:pointer}
.bar{display:inline-block;height:.8em;background:#4a7fb5;vertical-align:middle}
.turn{color:#666}.said{font-size:1.2em;margin:.5em 0}
.card{border:1px solid #dde;border-radius:6px;padding:.8em 1em;margin:.8em 0;background:#fafbfd}
</style></head><body><header><h1><a href="/">mmempathy coach</a></h1>
<span>{% if name %}{{ name }}{% if person_id is defined %} · <a href="/p/{{ person_id }}/progress">progress</a>{% endif %}{% endif %}</span></header>
"""
_FOOT = "</body></html>"

HOME = (
    _HEAD
    + """
<p>Practise reading emotions in others: short clips, voices, faces and dialogue turns. After each answer you see
the truth, what the recogniser read from the words, the voice and the face, and how you might respond.</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
{% for n in coach.library.notes %}<p class="note">{{ n }}</p>{% endfor %}
<form method="post" action="/people"><label>Your name <input name="name" id="name" required maxlength="60"></label>
<button type="submit" id="start">Start</button></form>
{% set people = coach.people() %}
{% if people %}<h2>People</h2><table><tr><th>name</th><th>answered</th><th>accuracy</th></tr>
{% for p in people %}<tr><td><a href="/p/{{ p.id }}">{{ p.name }}</a></td><td>{{ p.answered }}</td>
<td>{{ "%.0f"|format(100 * p.accuracy) }} %</td></tr>{% endfor %}</table>{% endif %}
<p>{{ coach.library.items|length }} items in the library. Trainers: <a href="/export.csv" id="export">export everyone's results (CSV)</a>.</p>
<p style="font-size:.9em;color:#666">The recogniser reads <em>expressed</em> emotion: what a face, a voice or words show,
not what someone feels.</p>
"""
    + _FOOT
)

# What a refused or failed request shows: the message only (never the people table: a page from another
# site must learn nothing from a refused request).
ERROR = _HEAD + """<p class="error" id="error">{{ error }}</p><p><a href="/">Back to the start</a></p>""" + _FOOT

PERSON = (
    _HEAD
    + """
<h2>Hello, {{ name }}</h2>
{% if prog.answered %}<p>{{ prog.answered }} answers so far, {{ "%.0f"|format(100 * prog.accuracy) }} % right.
<a href="/p/{{ person_id }}/progress">Your progress</a>.</p>{% endif %}
<form method="post" action="/p/{{ person_id }}/sessions" class="card">
<p><label>Items in this session <input type="number" name="size" id="size" value="6" min="1" max="50"></label></p>
<p class="choices">{% for k, n in counts.items() if n %}<label><input type="checkbox" name="kind" value="{{ k }}"> {{ k }} ({{ n }})</label>{% endfor %}
<br><small>none ticked: all kinds. Items you missed before come back first.</small></p>
<button type="submit" id="new-session">New session</button></form>
"""
    + _FOOT
)

_MEDIA = """
{% if item.kind == 'video' %}<video id="media" controls width="480" src="/media/{{ item.id }}{% if item.start is not none %}#t={{ item.start }},{{ item.end }}{% endif %}"></video>
{% if item.text %}<p class="said">&ldquo;{{ item.text }}&rdquo;</p>{% endif %}
{% elif item.kind == 'voice' %}<audio id="media" controls src="/media/{{ item.id }}"></audio><p><small>voice only</small></p>
{% elif item.kind == 'face' %}<img id="media" src="/media/{{ item.id }}" width="192" height="192" style="image-rendering:pixelated" alt="face">
{% else %}{% for t in item.context %}<p class="turn">{{ t }}</p>{% endfor %}<p class="said" id="media">{{ item.text }}</p>{% endif %}
"""

ITEM = (
    _HEAD
    + """
<h2>Item {{ position + 1 }} of {{ total }}</h2>
{% if missing %}<p class="note">This item is no longer in the library.</p>
{% if position + 1 < total %}<a href="/s/{{ sess.id }}/{{ position + 1 }}">next</a>{% endif %}
{% else %}<div class="card">"""
    + _MEDIA
    + """</div>
<form method="post" action="/s/{{ sess.id }}/{{ position }}/answer" id="answer-form">
<p class="choices">Which emotion is expressed?<br>{% for l in labels %}<label><input type="radio" name="emotion" value="{{ l }}" required> {{ l }}</label>{% endfor %}</p>
<p class="choices">How strongly?<br>{% for v, t in [(1, 'mild'), (2, 'clear'), (3, 'strong')] %}<label><input type="radio" name="intensity" value="{{ v }}"{% if v == 2 %} checked{% endif %}> {{ t }}</label>{% endfor %}</p>
<button type="submit" id="submit-answer">Answer</button></form>{% endif %}
"""
    + _FOOT
)

FEEDBACK = (
    _HEAD
    + """
<h2>Item {{ position + 1 }} of {{ total }}</h2>
<div class="card">"""
    + _MEDIA
    + """</div>
<p id="verdict">{% if answer.correct %}<span class="ok">Right:</span>{% else %}<span class="bad">Not quite:</span>{% endif %}
you said <b>{{ answer.answer }}</b> ({{ ['', 'mild', 'clear', 'strong'][answer.intensity] }}); the label is <b id="truth">{{ fb.truth }}</b>.</p>
{% if fb.error %}<p class="note">{{ fb.error }}</p>{% else %}
<h3>What the recogniser read</h3>
<table id="readings"><tr><th></th>{% for l in labels %}<th>{{ l }}</th>{% endfor %}<th>weight</th></tr>
<tr><td><b>fused</b></td>{% for l in labels %}<td>{{ "%.2f"|format(fb.fused.get(l, 0)) }}</td>{% endfor %}<td></td></tr>
{% for m, probs in fb.modalities.items() %}<tr><td>{{ {'text': 'words', 'audio': 'voice', 'face': 'face'}.get(m, m) }}</td>
{% for l in labels %}<td>{{ "%.2f"|format(probs.get(l, 0)) }}</td>{% endfor %}
<td><span class="bar" style="width:{{ (60 * fb.weights.get(m, 0))|round|int }}px"></span> {{ "%.2f"|format(fb.weights.get(m, 0)) }}</td></tr>{% endfor %}</table>
<p><small>Weights: how much each cue counted in the fused reading (the fusion gate).</small></p>{% endif %}
{% if answer.responded %}
<h3>Your response</h3>
<p>You chose <b>{{ answer.response_strategy }}</b>{% if answer.response_text %}: &ldquo;{{ answer.response_text }}&rdquo;{% endif %}.</p>
{% if fb.response %}<p id="strategy-verdict">{% if answer.strategy_match %}<span class="ok">Same strategy as the rules.</span>{% else %}
The rules chose <b>{{ fb.response.strategy }}</b>.{% endif %}</p>
<p class="card">&ldquo;{{ fb.response.text }}&rdquo;<br><small>Why: {{ fb.response.reason }}</small>
{% if fb.response.regulation %}<br>Regulation ({{ fb.response.regulation.family }}): {{ fb.response.regulation.text }}{% endif %}</p>{% endif %}
{% if fb.wording_note %}<p class="note" id="wording-note">{{ fb.wording_note }}</p>{% endif %}
{% if position + 1 < total %}<p><a href="/s/{{ sess.id }}/{{ position + 1 }}" id="next">Next item</a></p>
{% else %}<p>Session done. <a href="/p/{{ sess.person_id }}/progress" id="to-progress">See your progress</a> or
<a href="/p/{{ sess.person_id }}">start another</a>.</p>{% endif %}
{% else %}
<form method="post" action="/s/{{ sess.id }}/{{ position }}/response" id="response-form" class="card">
<p class="choices">How would you respond? Pick a strategy (ESConv, Liu et al. 2021)<br>
{% for s in strategies %}<label><input type="radio" name="strategy" value="{{ s }}"> {{ s }}</label>{% endfor %}</p>
<p><label>and/or write it: <input name="text" id="response-text" size="60" maxlength="500"></label></p>
<button type="submit" id="submit-response">Respond</button></form>{% endif %}
"""
    + _FOOT
)

PROGRESS = (
    _HEAD
    + """
<h2>Progress of {{ name }}</h2>
{% if not prog.answered %}<p>No answers yet.</p>{% else %}
<p id="summary">{{ prog.answered }} answers, {{ "%.0f"|format(100 * prog.accuracy) }} % right
{% if prog.improvement is not none %}; {{ "%+.0f"|format(100 * prog.improvement) }} points from the first session to the last{% endif %}.
{% if prog.strategy_agreement is not none %}Your response strategy matched the rules' {{ "%.0f"|format(100 * prog.strategy_agreement) }} % of the time.{% endif %}
{% if prog.model_agreement is not none %}You agreed with the recogniser on {{ "%.0f"|format(100 * prog.model_agreement) }} % of items.{% endif %}</p>
<img src="/p/{{ person_id }}/progress.png" alt="progress plot" width="640" height="240" id="plot">
<h3>Per emotion</h3><table id="per-emotion"><tr><th>emotion</th><th>items</th><th>right</th></tr>
{% for l in labels %}{% set e = prog.per_emotion[l] %}<tr><td>{{ l }}</td><td>{{ e.n }}</td>
<td>{% if e.accuracy is not none %}{{ "%.0f"|format(100 * e.accuracy) }} %{% else %}-{% endif %}</td></tr>{% endfor %}</table>
<h3>Confusions (rows: label, columns: your answer)</h3><table id="confusion"><tr><th></th>{% for l in labels %}<th>{{ l[:4] }}</th>{% endfor %}</tr>
{% for t in labels %}<tr><td>{{ t }}</td>{% for a in labels %}<td{% if t == a and prog.confusion[t][a] %} class="ok"{% elif prog.confusion[t][a] %} class="bad"{% endif %}>{{ prog.confusion[t][a] }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endif %}<p><a href="/p/{{ person_id }}">Practise again</a></p>
"""
    + _FOOT
)
