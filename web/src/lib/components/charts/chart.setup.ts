// Chart.js with only the parts the console draws: bars (per day, per hour, flags stacked per
// week) and lines (storage in use), their two axis types, tooltips and legends. Registering
// parts one by one, not `chart.js/auto`, keeps the rest of the library out of the bundle.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  CategoryScale,
  LinearScale,
  Filler,
  Legend,
  Tooltip,
);

export { Chart };
export type { ChartConfiguration, ChartDataset, ChartOptions } from 'chart.js';

/** The console's colours (app.css), for a canvas that cannot read CSS variables. */
export const CHART_COLOURS = {
  accent: '#1f4e79',
  accentSoft: 'rgba(31, 78, 121, 0.15)',
  teal: '#0f7b6c',
  amber: '#b7791f',
  danger: '#b42318',
  muted: '#5b6776',
  grid: '#e3e8ee',
} as const;

/** One colour per series, in this order. */
export const SERIES_COLOURS = [
  CHART_COLOURS.accent,
  CHART_COLOURS.amber,
  CHART_COLOURS.danger,
  CHART_COLOURS.teal,
  CHART_COLOURS.muted,
] as const;
