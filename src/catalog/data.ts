// Catalog enrichment of the 41 reference listings (reference-models.json): stable model ids, who serves
// each model, the upstream model id, context window, capabilities and default list prices.
//
// CONFIGURATION / REFERENCE DATA: prices are plausible public list prices in integer micro-USD per
// million tokens (1 USD = 1_000_000 micros), used only until a provider's live /models list says
// otherwise (see price-sync.ts) or the operator configures its own. Context windows and capabilities
// follow the vendors' published model cards where known, else a conservative guess.
//
// Each reference listing maps to one offering (provider, model). A listing names a host where the
// reference figure was measured; otherwise the vendor's own API serves it. A few open-weight models are
// also offered by a second host (`listed: false`), which gives the router a same-model fallback on
// another provider; their speed defaults to the listing's.
import type { Capability } from './types.js';

export interface ProviderDefaults {
  id: string;
  name: string;
  baseUrl: string;
  apiKeyEnv: string;
  /** Typical time to first token (ms) before we have measured our own: the latency prior. */
  defaultTtftMs: number;
}

/** Real hosts' OpenAI-compatible endpoints. The simulated fleet replaces baseUrl at composition time. */
export const DEFAULT_PROVIDERS: readonly ProviderDefaults[] = [
  { id: 'zai', name: 'Z.ai', baseUrl: 'https://api.z.ai/api/paas/v4', apiKeyEnv: 'ZAI_API_KEY', defaultTtftMs: 900 },
  { id: 'alibaba', name: 'Alibaba Cloud Model Studio', baseUrl: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1', apiKeyEnv: 'DASHSCOPE_API_KEY', defaultTtftMs: 800 },
  { id: 'deepseek', name: 'DeepSeek', baseUrl: 'https://api.deepseek.com/v1', apiKeyEnv: 'DEEPSEEK_API_KEY', defaultTtftMs: 1000 },
  { id: 'minimax', name: 'MiniMax', baseUrl: 'https://api.minimax.io/v1', apiKeyEnv: 'MINIMAX_API_KEY', defaultTtftMs: 1000 },
  { id: 'novita', name: 'Novita AI', baseUrl: 'https://api.novita.ai/openai/v1', apiKeyEnv: 'NOVITA_API_KEY', defaultTtftMs: 700 },
  { id: 'together', name: 'Together AI', baseUrl: 'https://api.together.xyz/v1', apiKeyEnv: 'TOGETHER_API_KEY', defaultTtftMs: 600 },
  { id: 'deepinfra', name: 'DeepInfra', baseUrl: 'https://api.deepinfra.com/v1/openai', apiKeyEnv: 'DEEPINFRA_API_KEY', defaultTtftMs: 600 },
  { id: 'groq', name: 'Groq', baseUrl: 'https://api.groq.com/openai/v1', apiKeyEnv: 'GROQ_API_KEY', defaultTtftMs: 250 },
];

/** Listing host name (as in reference-models.json) → provider id. */
export const HOST_TO_PROVIDER: Readonly<Record<string, string>> = {
  Novita: 'novita',
  Together: 'together',
  DeepInfra: 'deepinfra',
  Groq: 'groq',
};

export interface OfferSpec {
  provider: string;
  upstream: string;
  /** micro-USD per million input tokens */
  in: number;
  /** micro-USD per million output tokens */
  out: number;
  /** Capabilities this host does not expose for the model (e.g. DeepSeek's API has JSON mode, no json_schema). */
  lacks?: Capability[];
  /** false: a second host not in the reference listing. */
  listed?: boolean;
}

export interface ModelSpec {
  /** Reference listing name (key into reference-models.json). */
  ref: string;
  /** Stable model id (slug). Two listings of one model on two hosts share it. */
  id: string;
  contextWindow: number;
  maxOutputTokens: number;
  caps: Capability[];
  offers: OfferSpec[];
}

// Capability shorthands.
const CHAT: Capability[] = ['tools', 'json_schema', 'json_mode'];
const THINK: Capability[] = [...CHAT, 'reasoning'];
const VISION: Capability[] = ['tools', 'json_schema', 'json_mode', 'vision'];
const CODER: Capability[] = [...CHAT, 'code'];

const K = 1024;

/** One entry per reference listing, in the listing's order. */
export const MODEL_SPECS: readonly ModelSpec[] = [
  { ref: 'GLM 5.2', id: 'glm-5.2', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: [...THINK, 'code'],
    offers: [{ provider: 'zai', upstream: 'glm-5.2', in: 1_000_000, out: 3_200_000 }] },
  { ref: 'Qwen3.7 Max (Novita)', id: 'qwen3.7-max', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [{ provider: 'novita', upstream: 'qwen/qwen3.7-max', in: 1_200_000, out: 6_000_000 }] },
  { ref: 'DeepSeek V4 Pro (Together)', id: 'deepseek-v4-pro', contextWindow: 128 * K, maxOutputTokens: 64 * K, caps: [...THINK, 'code'],
    offers: [{ provider: 'together', upstream: 'deepseek-ai/DeepSeek-V4-Pro', in: 1_250_000, out: 3_500_000 }] },
  { ref: 'MiniMax-M3', id: 'minimax-m3', contextWindow: 1000 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'minimax', upstream: 'MiniMax-M3', in: 400_000, out: 2_200_000, lacks: ['json_schema'] }] },
  { ref: 'DeepSeek-V4-Flash', id: 'deepseek-v4-flash', contextWindow: 128 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [
      { provider: 'deepseek', upstream: 'deepseek-v4-flash', in: 140_000, out: 280_000, lacks: ['json_schema'] },
      { provider: 'deepinfra', upstream: 'deepseek-ai/DeepSeek-V4-Flash', in: 200_000, out: 400_000, listed: false },
    ] },
  { ref: 'GLM 5.1 (Novita)', id: 'glm-5.1', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'novita', upstream: 'zai-org/glm-5.1', in: 900_000, out: 3_000_000 }] },
  { ref: 'GLM-5', id: 'glm-5', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'zai', upstream: 'glm-5', in: 800_000, out: 2_560_000 }] },
  { ref: 'Qwen3.6 Plus', id: 'qwen3.6-plus', contextWindow: 1000 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [{ provider: 'alibaba', upstream: 'qwen3.6-plus', in: 400_000, out: 1_200_000 }] },
  { ref: 'Qwen3.7 Plus', id: 'qwen3.7-plus', contextWindow: 1000 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [{ provider: 'alibaba', upstream: 'qwen3.7-plus', in: 400_000, out: 1_200_000 }] },
  { ref: 'MiniMax M2.7 (Together)', id: 'minimax-m2.7', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'together', upstream: 'MiniMaxAI/MiniMax-M2.7', in: 300_000, out: 1_200_000 }] },
  { ref: 'Qwen3.6-27B', id: 'qwen3.6-27b', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [
      { provider: 'alibaba', upstream: 'qwen3.6-27b', in: 200_000, out: 800_000 },
      { provider: 'deepinfra', upstream: 'Qwen/Qwen3.6-27B', in: 150_000, out: 600_000, listed: false },
    ] },
  { ref: 'GLM-4.7', id: 'glm-4.7', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'zai', upstream: 'glm-4.7', in: 600_000, out: 2_200_000 }] },
  { ref: 'MiniMax M2.5', id: 'minimax-m2.5', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'minimax', upstream: 'MiniMax-M2.5', in: 300_000, out: 1_200_000, lacks: ['json_schema'] }] },
  { ref: 'Qwen3.5 397B A17B (DeepInfra)', id: 'qwen3.5-397b-a17b', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [{ provider: 'deepinfra', upstream: 'Qwen/Qwen3.5-397B-A17B', in: 540_000, out: 2_180_000 }] },
  // Same model as the DeepInfra listing: a second offering of `qwen3.5-397b-a17b`.
  { ref: 'Qwen3.5 397B A17B (Together)', id: 'qwen3.5-397b-a17b', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [{ provider: 'together', upstream: 'Qwen/Qwen3.5-397B-A17B', in: 600_000, out: 3_600_000 }] },
  { ref: 'Qwen3.5-27B', id: 'qwen3.5-27b', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [{ provider: 'alibaba', upstream: 'qwen3.5-27b', in: 150_000, out: 600_000 }] },
  { ref: 'Qwen3.5-122B-A10B', id: 'qwen3.5-122b-a10b', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [{ provider: 'alibaba', upstream: 'qwen3.5-122b-a10b', in: 250_000, out: 1_000_000 }] },
  { ref: 'Qwen3.6-35B-A3B', id: 'qwen3.6-35b-a3b', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [
      { provider: 'alibaba', upstream: 'qwen3.6-35b-a3b', in: 100_000, out: 400_000 },
      { provider: 'together', upstream: 'Qwen/Qwen3.6-35B-A3B', in: 100_000, out: 450_000, listed: false },
    ] },
  { ref: 'Minimax M2.1', id: 'minimax-m2.1', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'minimax', upstream: 'MiniMax-M2.1', in: 300_000, out: 1_200_000, lacks: ['json_schema'] }] },
  { ref: 'Qwen3.5-35B-A3B', id: 'qwen3.5-35b-a3b', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [{ provider: 'alibaba', upstream: 'qwen3.5-35b-a3b', in: 80_000, out: 320_000 }] },
  { ref: 'GPT-OSS 120B (Groq)', id: 'gpt-oss-120b', contextWindow: 128 * K, maxOutputTokens: 64 * K, caps: THINK,
    offers: [
      { provider: 'groq', upstream: 'openai/gpt-oss-120b', in: 150_000, out: 600_000 },
      { provider: 'together', upstream: 'openai/gpt-oss-120b', in: 150_000, out: 600_000, listed: false },
    ] },
  { ref: 'Qwen3-Max', id: 'qwen3-max', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: CHAT,
    offers: [{ provider: 'alibaba', upstream: 'qwen3-max', in: 1_200_000, out: 6_000_000 }] },
  { ref: 'GLM-4.6', id: 'glm-4.6', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'zai', upstream: 'glm-4.6', in: 600_000, out: 2_200_000 }] },
  { ref: 'GLM-4.7-Flash', id: 'glm-4.7-flash', contextWindow: 200 * K, maxOutputTokens: 128 * K, caps: THINK,
    offers: [{ provider: 'zai', upstream: 'glm-4.7-flash', in: 70_000, out: 400_000 }] },
  { ref: 'Qwen3 Coder Next', id: 'qwen3-coder-next', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: CODER,
    offers: [{ provider: 'alibaba', upstream: 'qwen3-coder-next', in: 200_000, out: 1_500_000 }] },
  { ref: 'Qwen3.5 9B FP8', id: 'qwen3.5-9b', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [{ provider: 'deepinfra', upstream: 'Qwen/Qwen3.5-9B-FP8', in: 40_000, out: 150_000 }] },
  { ref: 'Qwen3 235B A22B Instruct 2507', id: 'qwen3-235b-a22b-instruct-2507', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: CHAT,
    offers: [
      { provider: 'alibaba', upstream: 'qwen3-235b-a22b-instruct-2507', in: 700_000, out: 2_800_000 },
      { provider: 'together', upstream: 'Qwen/Qwen3-235B-A22B-Instruct-2507-tput', in: 200_000, out: 600_000, listed: false },
    ] },
  { ref: 'Qwen3 Coder 480B A35B Instruct', id: 'qwen3-coder-480b-a35b-instruct', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: CODER,
    offers: [
      { provider: 'alibaba', upstream: 'qwen3-coder-480b-a35b-instruct', in: 1_000_000, out: 5_000_000 },
      { provider: 'together', upstream: 'Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8', in: 2_000_000, out: 2_000_000, listed: false },
    ] },
  { ref: 'zai-org/glm-4.5-air', id: 'glm-4.5-air', contextWindow: 128 * K, maxOutputTokens: 96 * K, caps: THINK,
    offers: [{ provider: 'zai', upstream: 'glm-4.5-air', in: 200_000, out: 1_100_000 }] },
  { ref: 'GPT-OSS 20B (Novita)', id: 'gpt-oss-20b', contextWindow: 128 * K, maxOutputTokens: 32 * K, caps: THINK,
    offers: [
      { provider: 'novita', upstream: 'openai/gpt-oss-20b', in: 40_000, out: 150_000 },
      { provider: 'groq', upstream: 'openai/gpt-oss-20b', in: 75_000, out: 300_000, listed: false },
    ] },
  { ref: 'Qwen3 Coder 30b A3B Instruct', id: 'qwen3-coder-30b-a3b-instruct', contextWindow: 256 * K, maxOutputTokens: 64 * K, caps: CODER,
    offers: [
      { provider: 'alibaba', upstream: 'qwen3-coder-30b-a3b-instruct', in: 150_000, out: 600_000 },
      { provider: 'deepinfra', upstream: 'Qwen/Qwen3-Coder-30B-A3B-Instruct', in: 70_000, out: 270_000, listed: false },
    ] },
  { ref: 'Qwen3-Next-80B-A3B-Instruct', id: 'qwen3-next-80b-a3b-instruct', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: CHAT,
    offers: [
      { provider: 'alibaba', upstream: 'qwen3-next-80b-a3b-instruct', in: 500_000, out: 2_000_000 },
      { provider: 'together', upstream: 'Qwen/Qwen3-Next-80B-A3B-Instruct', in: 150_000, out: 1_500_000, listed: false },
    ] },
  { ref: 'Qwen3-VL-235B-A22B-Instruct', id: 'qwen3-vl-235b-a22b-instruct', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: VISION,
    offers: [{ provider: 'alibaba', upstream: 'qwen3-vl-235b-a22b-instruct', in: 400_000, out: 1_600_000 }] },
  // QwQ: a reasoning model; tools work but structured output is not offered for it.
  { ref: 'Qwen QwQ-32B', id: 'qwq-32b', contextWindow: 128 * K, maxOutputTokens: 32 * K, caps: ['tools', 'json_mode', 'reasoning'],
    offers: [{ provider: 'alibaba', upstream: 'qwq-32b', in: 500_000, out: 1_500_000 }] },
  { ref: 'GLM 4.6V', id: 'glm-4.6v', contextWindow: 128 * K, maxOutputTokens: 32 * K, caps: VISION,
    offers: [{ provider: 'zai', upstream: 'glm-4.6v', in: 300_000, out: 900_000 }] },
  { ref: 'Qwen3-VL-32B-Instruct', id: 'qwen3-vl-32b-instruct', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: VISION,
    offers: [{ provider: 'alibaba', upstream: 'qwen3-vl-32b-instruct', in: 160_000, out: 640_000 }] },
  // R1 distill: reasoning only; no function calling, no structured output.
  { ref: 'DeepSeek R1 Distill LLama 70B', id: 'deepseek-r1-distill-llama-70b', contextWindow: 128 * K, maxOutputTokens: 32 * K, caps: ['reasoning'],
    offers: [{ provider: 'novita', upstream: 'deepseek/deepseek-r1-distill-llama-70b', in: 800_000, out: 800_000 }] },
  { ref: 'Qwen3-VL-30B-A3B-Instruct', id: 'qwen3-vl-30b-a3b-instruct', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: VISION,
    offers: [{ provider: 'alibaba', upstream: 'qwen3-vl-30b-a3b-instruct', in: 200_000, out: 800_000 }] },
  { ref: 'Qwen3-VL-8B-Instruct', id: 'qwen3-vl-8b-instruct', contextWindow: 256 * K, maxOutputTokens: 32 * K, caps: VISION,
    offers: [{ provider: 'alibaba', upstream: 'qwen3-vl-8b-instruct', in: 80_000, out: 500_000 }] },
  { ref: 'GLM 4.5V', id: 'glm-4.5v', contextWindow: 64 * K, maxOutputTokens: 16 * K, caps: ['json_mode', 'vision', 'reasoning'],
    offers: [{ provider: 'zai', upstream: 'glm-4.5v', in: 600_000, out: 1_800_000 }] },
  { ref: 'Qwen3 Omni 30B A3B Instruct', id: 'qwen3-omni-30b-a3b-instruct', contextWindow: 64 * K, maxOutputTokens: 16 * K, caps: ['json_mode', 'vision'],
    offers: [{ provider: 'alibaba', upstream: 'qwen3-omni-30b-a3b-instruct', in: 250_000, out: 970_000 }] },
];
