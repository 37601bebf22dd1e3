/** A small SVG line chart: budget on x, quality on y, one line per method. Pure. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
}

/** Quality charts clamp y to [0, 1]; other charts pass `y` (e.g. units per request). */
export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], opts: { y?: readonly [number, number] } = {}): string {
  const W = 680;
  const H = 400;
  const m = { l: 60, r: 175, t: 36, b: 48 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y0 = opts.y ? opts.y[0] : Math.max(0, Math.floor(Math.min(...ys) * 10) / 10);
  const y1 = opts.y ? opts.y[1] : Math.min(1, Math.ceil(Math.max(...ys) * 10) / 10) || 1;
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const y = y0 + ((y1 - y0) * k) / 5;
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(y)}" y2="${Y(y)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 8}" y="${Y(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
  }
  // Round tick steps (1, 2, 5 × 10^k), about 8 of them.
  const raw = Math.max(1, (x1 - x0) / 8);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((v) => v >= raw) ?? raw;
  for (let x = Math.ceil(x0 / step) * step; x <= x1; x += step) {
    parts.push(`<line x1="${X(x)}" x2="${X(x)}" y1="${m.t}" y2="${H - m.b}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${X(x)}" y="${H - m.b + 16}" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  let legend = 0;
  series.forEach((s) => {
    const d = s.points.map((p, k) => `${k === 0 ? "M" : "L"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dashed ? 1.5 : 2.5}"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    if (!s.name) return; // a line without a legend entry
    const i = legend++;
    const ly = m.t + 10 + i * 22;
    parts.push(`<line x1="${W - m.r + 14}" x2="${W - m.r + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    parts.push(`<text x="${W - m.r + 46}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
