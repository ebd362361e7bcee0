/**
 * The game's view of a backend's model: completions of user turns, with prompts rendered and samples decoded by
 * the model folder's tokenizer and chat template, and the token ids sampled by the backend (local or remote).
 */
import type { ChatModel, Completer } from '../generate/chat.ts';
import type { SamplerEnd } from './backend.ts';

export function backendCompleter(text: ChatModel, end: SamplerEnd): Completer {
  return { complete: (userTexts, s, seed, batchSize) => text.completeWith((prompts, o) => end.sample(prompts, 1, o), userTexts, s, seed, batchSize) };
}
