// The wave dependency graph: laid out by dagre (left to right), drawn as SVG, each wave labelled with its status.
import dagre from "@dagrejs/dagre";
import { s } from "./dom";

export interface GraphWave {
  waveId: string;
  name: string;
  dependsOn: string[];
  status: string;
  gated: boolean;
}

const WIDTH = 232;
const HEIGHT = 58;

export function waveGraph(waves: GraphWave[]): SVGElement {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 56, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const wave of waves) g.setNode(wave.waveId, { width: WIDTH, height: HEIGHT });
  for (const wave of waves) for (const dep of wave.dependsOn) g.setEdge(dep, wave.waveId);
  dagre.layout(g);
  const { width = WIDTH, height = HEIGHT } = g.graph();
  const summary = waves.map((w) => `${w.waveId} ${w.status.replaceAll("_", " ")}`).join(", ");
  const svg = s(
    "svg",
    { class: "graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": "graph-title" },
    s("title", { id: "graph-title" }, `Wave dependency graph: ${summary}`),
    s(
      "defs",
      {},
      s(
        "marker",
        { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }),
      ),
    ),
  );
  for (const edge of g.edges()) {
    const points = g.edge(edge).points ?? [];
    const d = points.map((p: { x: number; y: number }, i: number) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
    svg.append(s("path", { d, class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const wave of waves) {
    const node = g.node(wave.waveId);
    const x = node.x - WIDTH / 2;
    const y = node.y - HEIGHT / 2;
    const label = wave.name && wave.name !== wave.waveId ? `${wave.waveId}: ${wave.name}` : wave.waveId;
    svg.append(
      s(
        "g",
        { class: `node st-${wave.status.toLowerCase()}`, "data-wave": wave.waveId, "data-status": wave.status },
        s("rect", { x, y, width: WIDTH, height: HEIGHT, rx: 6 }),
        s("text", { x: x + 10, y: y + 22, class: "node-id" }, clip(label)),
        s("text", { x: x + 10, y: y + 44, class: "node-status" }, `${wave.status.replaceAll("_", " ")}${wave.gated && wave.status === "PENDING" ? " · gated" : ""}`),
      ),
    );
  }
  return svg;
}

function clip(text: string): string {
  return text.length > 27 ? `${text.slice(0, 26)}…` : text;
}
