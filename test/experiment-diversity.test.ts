/** Challenger query diversity (src/experiment/diversity.ts) on hand-made queries with hand-counted answers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diversityOverTraining, windowSize, windowStats } from '../src/experiment/diversity.ts';
import { distinctN, queryTokens } from '../src/util/ngrams.ts';

test('queryTokens splits words and punctuation', () => {
  assert.deepEqual(queryTokens('Reverse the word: lop'), ['Reverse', 'the', 'word', ':', 'lop']);
  assert.deepEqual(queryTokens('What is 3 plus 4?'), ['What', 'is', '3', 'plus', '4', '?']);
  assert.deepEqual(queryTokens('   '), []);
});

test('distinct-n: distinct n-grams over all n-grams, n-grams never cross texts', () => {
  // unigrams a b a | a b: 5 in all, {a, b} distinct; bigrams (a b) (b a) | (a b): 3 in all, 2 distinct
  assert.equal(distinctN(['a b a', 'a b'], 1), 2 / 5);
  assert.equal(distinctN(['a b a', 'a b'], 2), 2 / 3);
  // "x" + "y" would make the bigram (x y) if texts were joined; they are not
  assert.ok(Number.isNaN(distinctN(['x', 'y'], 2)));
  assert.equal(distinctN(['x', 'y'], 1), 1);
  assert.ok(Number.isNaN(distinctN([], 1)));
});

test('window stats: validity, unique instances across templates, family and difficulty histograms', () => {
  const queries = [
    'Reverse the word: lop', // reverse, level 1
    'Write the letters of lop in reverse order.', // the same instance, other template
    'What is 3 plus 4?', // add, level 1
    'Add 12 and 30.', // add, level 3
    'What is the largest of 1, 2, 3, 4?', // largest, level 2
    'hello there', // not a world instance
    'hello there',
  ];
  const w = windowStats(queries, 1, 4);
  assert.equal(w.queries, 7);
  assert.equal(w.validFrac, 5 / 7);
  assert.equal(w.uniqueQueryShare, 6 / 7);
  assert.equal(w.uniqueInstanceShare, 4 / 5);
  assert.deepEqual(w.families, { reverse: 2, uppercase: 0, repeat: 0, sort: 0, add: 2, largest: 1 });
  assert.deepEqual(w.difficulties, [3, 1, 1, 0, 0, 0]);
  const none = windowStats(['hello there'], 1, 1);
  assert.equal(none.validFrac, 0);
  assert.ok(Number.isNaN(none.uniqueInstanceShare));
});

test('windows over training: consecutive iteration ranges up to the last one, empty windows kept', () => {
  const samples = [
    { iteration: 1, query: 'Reverse the word: lop' },
    { iteration: 2, query: 'Reverse the word: lop' },
    { iteration: 2, query: 'What is 3 plus 4?' },
    { iteration: 5, query: 'hello there' },
  ];
  const w = diversityOverTraining(samples, 2);
  assert.deepEqual(w.map((x) => [x.from, x.to, x.queries]), [[1, 2, 3], [3, 4, 0], [5, 5, 1]]);
  assert.equal(w[0].uniqueInstanceShare, 2 / 3);
  assert.equal(w[0].uniqueQueryShare, 2 / 3);
  assert.equal(w[2].validFrac, 0);
  assert.deepEqual(diversityOverTraining([], 3), []);
  assert.throws(() => diversityOverTraining(samples, 0), /window size must be a positive integer/);
  assert.equal(windowSize(40), 8);
  assert.equal(windowSize(2), 1);
  assert.equal(windowSize(7), 2);
});

test('diversityOverTraining takes a run of 300,000 samples (no argument spread over the samples)', () => {
  const samples = Array.from({ length: 300_000 }, (_, i) => ({ iteration: 1 + Math.floor(i / 1000), query: 'Reverse the word: lokem.' }));
  const w = diversityOverTraining(samples, 100);
  assert.equal(w.length, 3);
  assert.equal(w[2].to, 300);
});
