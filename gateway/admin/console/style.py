"""The console's style sheet, inlined in every page (no request for it, no build step).

Colours keep a contrast of at least 4.5:1 against their background (WCAG AA for body
text), focus is always visible, and tables scroll inside their box on narrow screens.
"""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
*{box-sizing:border-box}
body{
  margin:0;
  font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:#1b1f24;
  background:#f6f7f9;
}
a{color:#0b4fa8}
a:hover{color:#083b7d}
:focus-visible{outline:3px solid #b35900;outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem 1rem}
.skip:focus{left:.5rem}
header{
  display:flex;
  flex-wrap:wrap;
  align-items:center;
  gap:1rem;
  padding:.5rem 1.5rem;
  background:#14213d;
  color:#fff;
}
header .brand{margin:0;font-weight:700;letter-spacing:.02em}
header nav ul{display:flex;flex-wrap:wrap;gap:.25rem;list-style:none;margin:0;padding:0}
header nav a{
  display:block;
  padding:.4rem .75rem;
  border-radius:4px;
  color:#fff;
  text-decoration:none;
}
header nav a:hover{background:#26375e}
header nav a[aria-current=page]{background:#fff;color:#14213d;font-weight:600}
header .logout{margin-left:auto}
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}
main:focus{outline:none}
h1{font-size:1.6rem;margin:.75rem 0 1rem}
h2{font-size:1.2rem;margin:1.75rem 0 .5rem}
section{
  background:#fff;
  border:1px solid #d5d9e0;
  border-radius:6px;
  padding:.75rem 1rem;
  margin:1rem 0;
}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
caption{text-align:left;font-weight:600;padding:.25rem 0 .5rem}
th,td{padding:.4rem .6rem;border-bottom:1px solid #d5d9e0;text-align:left;vertical-align:top}
thead th{background:#eef1f5}
.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{
  display:inline-block;
  padding:0 .5rem;
  border-radius:999px;
  font-size:.875rem;
  font-weight:600;
}
.badge.good{background:#e3f3e8;color:#0d5c2b}
.badge.bad{background:#fde8e8;color:#8f1d1d}
.badge.neutral{background:#e8ebf0;color:#2f3a4a}
time,.nowrap{white-space:nowrap}
input[type=search]{min-width:18rem}
main.narrow{max-width:30rem}
.tabs{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;padding:0;margin:0 0 1rem}
.tabs a{display:block;padding:.35rem .75rem;border:1px solid #0b4fa8;border-radius:4px;
  text-decoration:none}
.tabs a[aria-current=page]{background:#0b4fa8;color:#fff;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0}
form.search{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;margin:.5rem 0 1rem}
form.search label{display:flex;flex-direction:column;font-weight:600;font-size:.9rem}
input,select,button{
  font:inherit;
  padding:.35rem .5rem;
  border:1px solid #6b7280;
  border-radius:4px;
  background:#fff;
  color:#1b1f24;
}
button{background:#0b4fa8;border-color:#0b4fa8;color:#fff;font-weight:600;cursor:pointer}
button:hover{background:#083b7d}
header button{background:#fff;color:#14213d;border-color:#fff}
header button:hover{background:#e5e7eb}
.pager{display:flex;gap:1rem;align-items:center;margin:.75rem 0}
.note{color:#4b5563}
.error{border-left:4px solid #8f1d1d;background:#fde8e8;padding:.5rem .75rem}
.chart svg{max-width:100%;height:auto}
.login form{display:flex;flex-direction:column;gap:.75rem}
.login label{font-weight:600}
.periods{display:flex;flex-wrap:wrap;gap:0 2rem;align-items:flex-end}
.periods .note{margin:.5rem 0 1rem}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1rem;align-items:start}
.pair figure{margin:0}
@media (max-width:60rem){.pair{grid-template-columns:minmax(0,1fr)}}
"""
