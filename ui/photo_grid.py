"""The results grid as one Streamlit element: a components-v2 component that draws every card
(thumbnail, name, score, "Open" and "Similar") in the browser from a list, instead of some eight
Streamlit elements per photo. Clicks come back as trigger values ("open", "like": a photo id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import streamlit as st

CSS = """
.photo-grid { display: grid; grid-template-columns: repeat(var(--columns, 5), minmax(0, 1fr));
  gap: 0.75rem; }
.photo-card { display: flex; flex-direction: column; gap: 0.25rem; min-width: 0; }
.photo-card .thumb-box { aspect-ratio: 1 / 1; display: flex; align-items: center;
  justify-content: center; background: rgba(128, 128, 128, 0.08); border-radius: 6px;
  overflow: hidden; cursor: zoom-in; }
.photo-card img.thumb { width: 100%; height: 100%; object-fit: contain; }
.photo-card .label { font-size: 0.8rem; opacity: 0.7; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.photo-card .actions { display: grid; grid-template-columns: 1fr 1fr; gap: 0.25rem; }
.photo-card button { font: inherit; font-size: 0.85rem; padding: 0.25rem 0.5rem;
  border-radius: 0.5rem; border: 1px solid rgba(128, 128, 128, 0.4);
  background: var(--st-background-color, transparent); color: inherit; cursor: pointer; }
.photo-card button:hover { border-color: var(--st-primary-color, #ff4b4b);
  color: var(--st-primary-color, #ff4b4b); }
"""

JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let grid = parentElement.querySelector('.photo-grid');
  if (!grid) {
    grid = document.createElement('div');
    grid.className = 'photo-grid';
    parentElement.appendChild(grid);
  }
  const signature = JSON.stringify(data);
  if (grid.dataset.signature === signature) return;
  grid.dataset.signature = signature;
  grid.style.setProperty('--columns', String(data.columns));
  grid.replaceChildren(...data.cards.map((card) => {
    const box = document.createElement('div');
    box.className = 'photo-card';
    box.dataset.photoId = String(card.id);
    const frame = document.createElement('div');
    frame.className = 'thumb-box';
    if (card.src) {
      const img = document.createElement('img');
      img.className = 'thumb';
      img.src = card.src;
      img.alt = card.name;
      img.title = card.path;
      img.decoding = 'async';
      frame.appendChild(img);
    } else {
      frame.textContent = card.problem;
    }
    frame.onclick = () => setTriggerValue('open', card.id);
    const label = document.createElement('div');
    label.className = 'label';
    label.textContent = card.label;
    label.title = card.path;
    const actions = document.createElement('div');
    actions.className = 'actions';
    const open = document.createElement('button');
    open.textContent = 'Open';
    open.onclick = () => setTriggerValue('open', card.id);
    const like = document.createElement('button');
    like.textContent = 'Similar';
    like.title = 'More like this';
    like.onclick = () => setTriggerValue('like', card.id);
    actions.append(open, like);
    box.append(frame, label, actions);
    return box;
  }));
}
"""

_grid = st.components.v2.component("searchapp_photo_grid", css=CSS, js=JS, isolate_styles=False)


class Card(TypedDict):
    id: int
    src: str
    name: str
    path: str
    label: str
    problem: str


def photo_grid(
    cards: list[Card],
    key: str,
    columns: int,
    on_open: Callable[[int], None],
    on_like: Callable[[int], None],
) -> None:
    """Draw `cards`; a click on a thumbnail or "Open" calls `on_open(id)`, on "Similar"
    `on_like(id)` (in a callback, before the rerun draws anything)."""

    def clicked(event: str, handler: Callable[[int], None]) -> Callable[[], None]:
        def callback() -> None:
            state: Any = st.session_state.get(key)
            value = state.get(event) if state is not None else None
            if value is not None:
                handler(int(value))

        return callback

    _grid(
        key=key,
        data={"columns": columns, "cards": cards},
        on_open_change=clicked("open", on_open),
        on_like_change=clicked("like", on_like),
    )
