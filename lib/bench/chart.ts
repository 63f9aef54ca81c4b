import type { EngineBenchRow } from './engine';

const W = 640;
const H = 400;
const M = { left: 70, right: 160, top: 50, bottom: 60 };
const COLORS = ['#6b7280', '#2563eb'];

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A line chart (SVG) of aggregate decode tokens/s against batch size, one line per model. */
export function throughputChart(rows: EngineBenchRow[], title = 'Decode throughput vs batch size'): string {
  const batches = rows[0].batchScaling.map((b) => b.batch);
  const maxY = Math.max(...rows.flatMap((r) => r.batchScaling.map((b) => b.tokensPerSecond))) * 1.1;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (i: number) => M.left + (batches.length === 1 ? plotW / 2 : (i * plotW) / (batches.length - 1));
  const y = (v: number) => M.top + plotH - (v / maxY) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="28" font-size="16" font-weight="bold">${escape(title)}</text>`,
    `<line x1="${M.left}" y1="${M.top + plotH}" x2="${M.left + plotW}" y2="${M.top + plotH}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="black"/>`,
    `<text x="${M.left + plotW / 2}" y="${H - 15}" text-anchor="middle">batch size (sequences decoding together)</text>`,
    `<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">tokens/s (all sequences)</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (maxY * k) / 4;
    parts.push(
      `<line x1="${M.left}" y1="${y(v)}" x2="${M.left + plotW}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`,
    );
  }
  batches.forEach((b, i) => parts.push(`<text x="${x(i)}" y="${M.top + plotH + 18}" text-anchor="middle">${b}</text>`));
  rows.forEach((r, k) => {
    const color = COLORS[k % COLORS.length];
    const points = r.batchScaling.map((b, i) => `${x(i).toFixed(1)},${y(b.tokensPerSecond).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${points}"/>`);
    r.batchScaling.forEach((b, i) => parts.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(b.tokensPerSecond).toFixed(1)}" r="4" fill="${color}"/>`));
    const ly = M.top + 20 + k * 22;
    parts.push(
      `<line x1="${W - M.right + 15}" y1="${ly - 4}" x2="${W - M.right + 35}" y2="${ly - 4}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${W - M.right + 40}" y="${ly}">${escape(r.model.split(' ')[0])} (${r.kvBytesPerToken} B/token KV)</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
