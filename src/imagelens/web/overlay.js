// Results drawn on the image: one SVG over it whose viewBox is the image's pixel grid, so every shape carries the
// answer's own coordinates (x, y, width, height / points), and CSS scales it with the image.

import { svgEl } from "./common.js";

/** Shapes to draw from a 4.0 analyze answer and a 3.2 one (faces): {kind, label, confidence, box?|points?}. */
export function shapesOf(result40, result32) {
  const shapes = [];
  const r = result40 || {};
  for (const v of (r.objectsResult && r.objectsResult.values) || []) {
    const tag = (v.tags && v.tags[0]) || { name: "object", confidence: 1 };
    shapes.push({ kind: "objects", label: tag.name, confidence: tag.confidence, box: v.boundingBox });
  }
  for (const v of (r.peopleResult && r.peopleResult.values) || []) {
    shapes.push({ kind: "people", label: "person", confidence: v.confidence, box: v.boundingBox });
  }
  for (const v of (r.denseCaptionsResult && r.denseCaptionsResult.values) || []) {
    shapes.push({ kind: "denseCaptions", label: v.text || "(empty caption)", confidence: v.confidence, box: v.boundingBox });
  }
  for (const v of (r.smartCropsResult && r.smartCropsResult.values) || []) {
    shapes.push({ kind: "smartCrops", label: `crop ${v.aspectRatio}`, confidence: null, box: v.boundingBox });
  }
  for (const block of (r.readResult && r.readResult.blocks) || []) {
    for (const line of block.lines || []) {
      const scores = (line.words || []).map((w) => w.confidence);
      const confidence = scores.length ? Math.min(...scores) : null;
      shapes.push({ kind: "read", label: line.text, confidence, points: line.boundingPolygon });
    }
  }
  for (const face of (result32 && result32.faces) || []) {
    const f = face.faceRectangle;
    shapes.push({ kind: "faces", label: "face", confidence: null, box: { x: f.left, y: f.top, w: f.width, h: f.height } });
  }
  for (const b of (result32 && result32.brands) || []) {
    const q = b.rectangle;
    shapes.push({ kind: "brands", label: b.name, confidence: b.confidence, box: { x: q.x, y: q.y, w: q.w, h: q.h } });
  }
  return shapes;
}

/** Draw `shapes` into `svg` for an image of `width` x `height` pixels; every shape gets data-* attributes. */
export function drawShapes(svg, width, height, shapes) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const stroke = Math.max(1, Math.round(Math.max(width, height) / 400));
  shapes.forEach((s, i) => {
    let node;
    if (s.box) {
      node = svgEl("rect", { x: s.box.x, y: s.box.y, width: s.box.w, height: s.box.h });
    } else {
      node = svgEl("polygon", { points: s.points.map((p) => `${p.x},${p.y}`).join(" ") });
    }
    node.setAttribute("class", `shape ${s.kind}`);
    node.setAttribute("stroke-width", stroke);
    node.dataset.kind = s.kind;
    node.dataset.index = String(i);
    if (s.confidence !== null && s.confidence !== undefined) node.dataset.confidence = String(s.confidence);
    const title = svgEl("title");
    title.textContent = s.confidence == null ? `${s.kind}: ${s.label}` : `${s.kind}: ${s.label} (${s.confidence.toFixed(2)})`;
    node.append(title);
    svg.append(node);
  });
}

/** Hide shapes (and list items) whose confidence is under `threshold`; answers how many stay visible. */
export function applyThreshold(root, threshold) {
  let visible = 0;
  for (const node of root.querySelectorAll("[data-kind]")) {
    const c = node.dataset.confidence;
    const hide = c !== undefined && Number(c) < threshold;
    node.classList.toggle("below", hide);
    if (hide) node.setAttribute("aria-hidden", "true");
    else node.removeAttribute("aria-hidden");
    if (!hide && node.tagName.toLowerCase() !== "li") visible += 1;
  }
  return visible;
}
