/** Fuzz (fast-check) of chat-template rendering and the prompt's token round trip; cases: SELFPLAY_FUZZ_RUNS x its share. */
import { test } from 'node:test';
import { runsOf, runTarget } from './fuzz/common.ts';
import { chatProperties } from './fuzz/chat.ts';

test(`fuzz: chat templates (${runsOf('chat')} cases)`, async () => {
  console.log(`# fuzz chat: ${await runTarget(chatProperties, runsOf('chat'))} cases`);
});
