// A small bar chart on <canvas>, with its numbers also written out as text for everyone
// who cannot see it. Colours keep 3:1 contrast against white; every bar is labelled.

const BAR_COLOURS = ["#00549a", "#005c40", "#6f3c97", "#a4111e", "#8a4b00", "#1b1b1b"];

export function barChart(canvas, bars, { unit = "" } = {}) {
  const ctx = canvas.getContext("2d");
  const width = canvas.width;
  const height = canvas.height;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.dataset.scaled !== String(ratio)) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.dataset.scaled = String(ratio);
    canvas.dataset.w = String(width);
    canvas.dataset.h = String(height);
  }
  const w = Number(canvas.dataset.w);
  const h = Number(canvas.dataset.h);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, w, h);

  const top = 24;
  const bottom = 56;
  const left = 16;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = (w - left * 2) / Math.max(1, bars.length);
  const barWidth = Math.min(72, slot * 0.6);
  ctx.font = "14px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.strokeStyle = "#1b1b1b";
  ctx.beginPath();
  ctx.moveTo(left, h - bottom + 0.5);
  ctx.lineTo(w - left, h - bottom + 0.5);
  ctx.stroke();
  bars.forEach((bar, i) => {
    const x = left + slot * i + slot / 2;
    const barHeight = ((h - top - bottom) * bar.value) / max;
    ctx.fillStyle = BAR_COLOURS[i % BAR_COLOURS.length];
    ctx.fillRect(x - barWidth / 2, h - bottom - barHeight, barWidth, barHeight);
    ctx.fillStyle = "#1b1b1b";
    ctx.fillText(`${bar.value}${unit}`, x, h - bottom - barHeight - 6);
    wrap(ctx, bar.label, x, h - bottom + 18, slot - 4);
  });
  canvas.dataset.drawn = String(bars.length);
  return bars.map((b) => `${b.label}: ${b.value}${unit}`).join("; ");
}

function wrap(ctx, text, x, y, maxWidth) {
  const words = String(text).split(" ");
  let line = "";
  let row = 0;
  for (const word of words) {
    const next = line ? `${line} ${word}` : word;
    if (ctx.measureText(next).width > maxWidth && line) {
      ctx.fillText(line, x, y + row * 16);
      line = word;
      row += 1;
    } else {
      line = next;
    }
  }
  if (line) ctx.fillText(line, x, y + row * 16);
}
