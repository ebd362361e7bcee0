/**
 * The experiment's write-up: docs/results/paper.md (settings, wall time, win rates against the base beside the
 * paper's numbers, solver accuracy, training curves, challenger query diversity, and a "what happened" section
 * generated from the numbers) and its SVG figures, written next to it. Everything here reads numbers that were
 * measured; nothing claims more than they show.
 */
import type { SubsetStats } from '../eval/stats.ts';
import path from 'node:path';
import { writeFileAtomic } from '../train/run-folder.ts';
import { formatDuration } from '../util/progress.ts';
import { FAMILY_NAMES } from '../world/types.ts';
import { ABLATED, OPTION_LABEL } from './arms.ts';
import { narrative } from './paper-narrative.ts';
import { ablationTable, claims, mdTable, pairedAccuracyTable, pairedFamilyTable, validityTable } from './paper-tables.ts';
import { ci, evalOf, iterationRange, metricPoints, num, pct, type PaperResults } from './results.ts';
import { barChart, lineChart, PALETTE, type LineSeries } from './svg.ts';

/** The training curves drawn, one SVG each: metrics.jsonl key and title. */
export const CURVES = [
  { key: 'solver/reward/mean', slug: 'solver-reward', title: 'Solver reward R (verifier, mean over N x G answers)' },
  { key: 'challenger/reward/mean', slug: 'challenger-reward', title: 'Challenger reward (mean over N queries)' },
  { key: 'challenger/valid_frac', slug: 'challenger-valid', title: 'Challenger valid fraction (queries that are world instances)' },
  { key: 'kl/solver', slug: 'kl-solver', title: 'KL(pi || pi_ref) of the solver (sampled sequence log-ratio)' },
  { key: 'kl/challenger', slug: 'kl-challenger', title: 'KL(pi || pi_ref) of the challenger (sampled sequence log-ratio)' },
] as const;

const seconds = (s: number | undefined) => (s !== undefined && Number.isFinite(s) ? formatDuration(s) : '–');
const table = mdTable;

interface Figure {
  file: string;
  alt: string;
  svg: string;
}

function comparisonFigures(r: PaperResults, stem: string): Figure[] {
  const overall = barChart({
    title: 'Win rate against the base (ties count half)',
    yLabel: 'win rate vs base (%)',
    yMax: 100,
    referenceLine: { value: 50, label: 'tie with the base' },
    groups: r.arms.map((arm) => {
      const s = evalOf(r, arm.name).vsBase!.overall;
      return {
        label: arm.label,
        bars: [
          { series: 'this run: world held-out set, verifier judge (95% CI)', value: 100 * s.winRate, lo: 100 * s.winRateCI.lo, hi: 100 * s.winRateCI.hi },
          { series: 'paper: AlpacaEval vs Llama-3.2-3B-Instruct, GPT-4o judge', value: arm.paperWinRate ?? NaN },
        ],
      };
    }),
  });
  const families = barChart({
    title: 'Win rate against the base per task family (95% CI)',
    yLabel: 'win rate vs base (%)',
    yMax: 100,
    referenceLine: { value: 50, label: 'tie with the base' },
    groups: FAMILY_NAMES.map((family) => ({
      label: family,
      bars: r.arms.map((arm) => {
        const s = evalOf(r, arm.name).vsBase!.subsets.find((x) => x.subset === family);
        return { series: arm.label, value: s ? 100 * s.winRate : NaN, lo: s && 100 * s.winRateCI.lo, hi: s && 100 * s.winRateCI.hi };
      }),
    })),
  });
  return [
    { file: `${stem}-overall.svg`, alt: 'win rate against the base per arm, beside the paper', svg: overall },
    { file: `${stem}-families.svg`, alt: 'win rate against the base per task family', svg: families },
  ];
}

function curveFigures(r: PaperResults, stem: string): Figure[] {
  const curves = CURVES.map((c) => {
    const series: LineSeries[] = r.arms
      .map((arm, k) => ({ name: arm.label, colour: PALETTE[k], points: metricPoints(arm.metrics, c.key) }))
      .filter((s) => s.points.some((p) => Number.isFinite(p[1])));
    return { file: `${stem}-curve-${c.slug}.svg`, alt: c.title, svg: lineChart({ title: c.title, xLabel: 'iteration', yLabel: c.key, series }) };
  });
  const challengers = r.arms.map((arm, k) => ({ arm, colour: PALETTE[k] })).filter(({ arm }) => arm.diversity.length > 0);
  const diversity = (field: 'distinct2' | 'uniqueInstanceShare', title: string) =>
    lineChart({
      title,
      xLabel: 'last iteration of the window',
      yLabel: field,
      series: challengers.map(({ arm, colour }) => ({ name: arm.label, colour, points: arm.diversity.map((w) => [w.to, w[field]] as const) })),
    });
  return [
    ...curves,
    { file: `${stem}-diversity-distinct2.svg`, alt: 'distinct-2 of challenger queries per window', svg: diversity('distinct2', 'Challenger queries: distinct-2 per window') },
    { file: `${stem}-diversity-unique.svg`, alt: 'share of distinct instances among valid queries per window', svg: diversity('uniqueInstanceShare', 'Challenger queries: distinct instances / valid queries per window') },
  ];
}

const optionText = (arm: PaperResults['arms'][number]) =>
  arm.mode === 'grpo' ? '–' : ABLATED.map((o) => (o === 'challengerReward' ? `challenger reward ${arm.config.challengerReward}` : `${OPTION_LABEL[o]} ${arm.config[o]}`)).join(', ');

function settingsSection(r: PaperResults): string {
  const b = r.spec;
  const s = r.settings;
  const frontier = r.grpoFrontier ? `kept only levels where the base's exact success at temperature 1 is in [${r.grpoFrontier.lo}, ${r.grpoFrontier.hi}] (probe: ${b.frontierProbe.items} instructions x ${b.frontierProbe.k} samples per level, its own seed; \`${r.out}/grpo-frontier.json\`)` : 'every level 1-6';
  const arms = r.arms.map((arm) => [arm.label, arm.mode, String(arm.iterations), String(arm.config.lr), String(arm.config.N), String(arm.config.G), arm.config.verifierReward, optionText(arm)]);
  return [
    table(['setting', 'value'], [
      ['model (base)', `\`${r.model}\``],
      ['budget', `${r.budget}: ${b.iterations} iterations per main arm, ${b.ablationIterations} per ablation arm; GRPO prompt set of ${b.grpoPrompts} world instructions, ${frontier}`],
      ['seed', String(r.seed)],
      ['evaluation', `${r.evalItems} items of the larger held-out world set (spread over families and levels), each answered greedily and ${s.k} times at temperature 1 (max ${s.maxTokens} tokens); verifier judge; paired 95% bootstrap intervals and exact sign tests`],
      ['tuning', 'no setting was tuned on the held-out set: learning rate, N, G and iterations come from a sweep on a dev draw of the world generator (docs/results/sweep.md)'],
      ['machine', `${r.machine}${r.threads ? `, ${r.threads} ONNX Runtime thread${r.threads === 1 ? '' : 's'}` : ''}`],
      ['run folders', `\`${r.out}/<arm>/\` (config.json, metrics.jsonl, samples.jsonl, model/); evaluation answers and reports in \`${r.out}/eval/\``],
    ], ['---', '---']),
    '',
    'Each arm\'s training settings (resolved by the same config schema as `selfplay train`; src/experiment/arms.ts):',
    '',
    table(['arm', 'mode', 'iterations', 'lr', 'N', 'G', 'verifier reward', 'challenger reward options'], arms, ['---', '---', '---:', '---:', '---:', '---:', '---', '---']),
  ].join('\n');
}

function wallTimeSection(r: PaperResults): string {
  const rows = [['Base', '–', '0', r.probeSeconds ? `${seconds(r.probeSeconds)} (frontier probe)` : '–', seconds(r.evalSeconds.base)]];
  for (const arm of r.arms) rows.push([arm.label, `\`${arm.startModel}\``, String(arm.iterations), seconds(arm.trainSeconds), seconds(r.evalSeconds[arm.name])]);
  const train = r.arms.reduce((a, arm) => a + (Number.isFinite(arm.trainSeconds) ? arm.trainSeconds : 0), 0) + r.probeSeconds;
  const answers = Object.values(r.evalSeconds).reduce((a, s) => a + s, 0);
  rows.push(['**total**', '', '', seconds(train), `${seconds(answers)} (all: **${seconds(train + answers)}**)`]);
  return [
    table(['arm', 'starts from', 'iterations', 'training', 'evaluation answers'], rows, ['---', '---', '---:', '---:', '---:']),
    '',
    `Times add up over sessions when the experiment was resumed; a model whose answers were cached from an earlier session costs nothing here. ` +
      `The ${r.budget} budget's target is under 60 minutes on 2 cores: ${train + answers < 3600 ? 'met' : '**not met**'} (${seconds(train + answers)}).`,
  ].join('\n');
}

function comparisonSection(r: PaperResults, figures: Figure[]): string {
  const rows = [['Base', '50 (itself)', '', '', '50 (itself)', '', '', '–']];
  for (const arm of r.arms) {
    const e = evalOf(r, arm.name);
    const cells = (s: SubsetStats | undefined) => (s ? [pct(s.winRate), ci(s), `${s.wins} / ${s.ties} / ${s.losses}`] : ['–', '', '']);
    rows.push([arm.label, ...cells(e.vsBase!.overall), ...cells(e.vsBaseSampled?.overall), arm.paperWinRate === null ? '–' : arm.paperWinRate.toFixed(1)]);
  }
  const familyRows = r.arms.map((arm) => [
    arm.label,
    ...FAMILY_NAMES.map((f) => {
      const s = evalOf(r, arm.name).vsBase!.subsets.find((x) => x.subset === f);
      return s ? `${pct(s.winRate)} ${ci(s)}` : '–';
    }),
  ]);
  return [
    table(
      ['model', 'greedy: win rate vs base %', '95% CI', 'wins / ties / losses', `sampled (k = ${r.settings.k}): win rate vs base %`, '95% CI', 'wins / ties / losses', 'paper: AlpacaEval win rate %'],
      rows,
      ['---', '---:', '---', '---', '---:', '---', '---', '---:'],
    ),
    '',
    "The paper's column is for reference only: AlpacaEval win rates against Llama-3.2-3B-Instruct (arXiv 2509.07414 v1, " +
      'GPT-4o judge), a 3B model on real instructions. This run is a small world model on the held-out world set, judged by ' +
      "the world's verifier. Greedy (temperature 0; the paper evaluates at 0.01): the answer with the higher verifier score wins; " +
      `equal scores tie, and ties count half. Sampled: per item, the model whose ${r.settings.k} answers at temperature 1 are exact ` +
      'more often wins (the policy RL trains, where a sharpened policy shows before its greedy answer changes); ties count half.',
    '',
    `![${figures[0].alt}](${figures[0].file})`,
    '',
    '### Per task family (win rate vs base %, 95% CI)',
    '',
    table(['model', ...FAMILY_NAMES], familyRows),
    '',
    `![${figures[1].alt}](${figures[1].file})`,
  ].join('\n');
}

function accuracySection(r: PaperResults): string {
  const k = r.settings.k;
  return [
    `Each model's own answers on the same held-out items, scored exact by the verifier: greedy, mean accuracy over ${k} samples at temperature 1 ` +
      `(the policy RL trains) and maj@${k} (the majority answer of those samples). Differences against the base in percentage points, ` +
      'with the paired bootstrap 95% interval, items gained / lost and the exact sign test (McNemar) p.',
    '',
    pairedAccuracyTable(r),
    '',
    `### Per task family (mean@${k} difference against the base, points, 95% interval)`,
    '',
    pairedFamilyTable(r),
  ].join('\n');
}

const histogram = (counts: readonly number[], labels: readonly (string | number)[]) =>
  counts.map((c, i) => [labels[i], c] as const).filter(([, c]) => c > 0).map(([l, c]) => `${l} ${c}`).join(', ') || '–';

function diversitySection(r: PaperResults, figures: Figure[]): string {
  const parts = [
    'Per window of iterations, over all challenger queries of the window: valid share; distinct-1 and distinct-2 (distinct word/punctuation ' +
      'n-grams over all n-grams); distinct query texts / queries; distinct world instances / valid queries (one instance phrased ' +
      'two ways counts once); and the family and difficulty histograms of the valid queries (src/experiment/diversity.ts).',
  ];
  for (const arm of r.arms.filter((a) => a.diversity.length > 0)) {
    const rows = arm.diversity.map((w) => [
      iterationRange(w.from, w.to),
      String(w.queries),
      pct(w.validFrac),
      num(w.distinct1),
      num(w.distinct2),
      pct(w.uniqueQueryShare),
      pct(w.uniqueInstanceShare),
      histogram(FAMILY_NAMES.map((f) => w.families[f]), FAMILY_NAMES),
      histogram(w.difficulties, w.difficulties.map((_, i) => `L${i + 1}`)),
    ]);
    const header = ['iterations', 'queries', 'valid %', 'distinct-1', 'distinct-2', 'distinct queries %', 'distinct instances %', 'families (valid)', 'difficulty (valid)'];
    parts.push(`### ${arm.label}\n\n${table(header, rows, ['---', '---:', '---:', '---:', '---:', '---:', '---:', '---', '---'])}`);
  }
  parts.push(...figures.filter((f) => f.file.includes('-diversity-')).map((f) => `![${f.alt}](${f.file})`));
  return parts.join('\n\n');
}

const DIFFERENCES = [
  "- Model and data: a ~4.5M-parameter world model pretrained on six synthetic task families (`docs/world.md`), not Llama-3.2-3B-Instruct; the held-out world set instead of AlpacaEval's 805 instructions.",
  "- Judge: the world's verifier (exact answers), not GPT-4o. The solver's R in training is the same verifier, with exact 0/1 reward (partial credit paid near-guesses).",
  '- Rewards: the LSP arms add an invalid-query penalty and a batch repetition penalty to the paper\'s challenger reward -V(q) (in a verifier world -V(q) alone pays most for an invalid query); the ablation shows what each option does.',
  '- Budget: tens of iterations per arm on 2 CPU cores; learning rate, N, G and iterations chosen by a small sweep on a dev set (docs/results/sweep.md), the same for all arms, where the paper used a lower learning rate for GRPO.',
  '- GRPO "with data": a fixed set of world instructions from a seeded stream (held-out instances excluded; only the frontier levels when the budget filters them), standing in for the paper\'s instruction data.',
];

/** The markdown of the doc; figure files are named relative to it. */
export function paperMarkdown(r: PaperResults, figures: Figure[], others: readonly PaperResults[] = []): string {
  const curves = figures.filter((f) => f.file.includes('-curve-'));
  return [
    "# The paper's comparison in the embedded world",
    '',
    `Generated by \`selfplay experiment paper\` (src/experiment/paper.ts) on ${r.date.slice(0, 10)}. Arms, as in the paper's ` +
      `Figures 2 and 3: the base model, ${r.arms.filter((a) => a.kind === 'main').map((a) => a.label).join(', ')}` +
      `${r.arms.some((a) => a.kind === 'ablation') ? ', and the ablation arms (LSP with one challenger reward option flipped)' : ''}. ` +
      'Every trained arm is evaluated against the base on the same held-out items.',
    '',
    '```',
    r.command,
    '```',
    '',
    settingsSection(r),
    '',
    '## Wall time',
    '',
    wallTimeSection(r),
    '',
    '## Did the paper\'s claims reproduce?',
    '',
    ...claims(r).map((line) => `- ${line}`),
    '',
    ...others.flatMap((o) => [
      `Another run of the same command with seed ${o.seed} (\`${o.out}\`, ${o.date.slice(0, 10)}, model \`${o.model}\`, budget ${o.budget}):`,
      '',
      ...claims(o).map((line) => `- ${line}`),
      '',
    ]),
    '## Win rate against the base',
    '',
    comparisonSection(r, figures.slice(0, 2)),
    '',
    '## Solver accuracy',
    '',
    accuracySection(r),
    '',
    '## Challenger validity: LSP against LSP-Zero',
    '',
    'Share of challenger queries that are valid world instances (samples.jsonl), per window of iterations (the diversity section has every window).',
    '',
    validityTable(r),
    '',
    '## Ablation: the challenger reward options',
    '',
    `LSP with the budget's reward options, and LSP with one option flipped each (${r.spec.ablationIterations} iterations per ablation arm` +
      `${r.spec.ablationIterations === r.spec.iterations ? ', as many as the main LSP arm' : `, fewer than the main LSP arm's ${r.spec.iterations} so the budget fits its time`}). ` +
      'LSP-Zero with the invalid-query penalty flipped runs beside LSP with it flipped: both then use the paper\'s own challenger reward, ' +
      'the setting of the paper\'s validity claim. Validity and diversity from the challenger\'s queries in training; accuracy on the held-out items against the base.',
    '',
    ablationTable(r),
    '',
    '## Training curves',
    '',
    'Per iteration, from each arm\'s metrics.jsonl. GRPO has no challenger, so it is absent from the challenger curves.',
    '',
    ...curves.map((f) => `![${f.alt}](${f.file})`),
    '',
    '## Challenger query diversity',
    '',
    diversitySection(r, figures),
    '',
    '## What happened',
    '',
    'Generated from the numbers above.',
    '',
    ...narrative(r).map((line) => `- ${line}`),
    '',
    '## How this differs from the paper',
    '',
    ...DIFFERENCES,
    '',
  ].join('\n');
}

/** Writes the doc and its figures (next to it, named after it); returns the files written. */
export function writePaperDoc(doc: string, r: PaperResults, others: readonly PaperResults[] = []): string[] {
  const dir = path.dirname(doc);
  const stem = path.basename(doc, '.md');
  const figures = [...comparisonFigures(r, stem), ...curveFigures(r, stem)];
  for (const f of figures) writeFileAtomic(path.join(dir, f.file), f.svg);
  writeFileAtomic(doc, paperMarkdown(r, figures, others));
  return [doc, ...figures.map((f) => path.join(dir, f.file))];
}
