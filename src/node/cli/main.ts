import { runAllocate, usage as allocateUsage } from "./allocate.js";
import { runAudits, usage as auditsUsage } from "./audits.js";
import { runCollect, usage as collectUsage } from "./collect.js";
import { runDev, usage as devUsage } from "./dev.js";
import { runDoctor, usage as doctorUsage } from "./doctor.js";
import { runEval, usage as evalUsage } from "./eval.js";
import { CliError } from "./io.js";
import { runTrain, usage as trainUsage } from "./train.js";
import { runMeasureLm, usage as measureLmUsage } from "./measure-lm.js";
import { runPrompts, usage as promptsUsage } from "./prompts.js";
import { runPublish, usage as publishUsage } from "./publish.js";
import { runTrainRoute, trainUsage as trainRouteUsage } from "./route.js";
import { runServeLm, usage as serveLmUsage } from "./serve-lm.js";
import { runServeGateway, usage as serveGatewayUsage } from "./serve-gateway.js";

type Command = { run: (args: string[]) => Promise<void>; usage: string; summary: string };

/** Subcommands as data: adding one means adding an entry, not editing a switch. */
const commands: Record<string, Command> = {
  allocate: { run: runAllocate, usage: allocateUsage, summary: "allocate a compute budget over queries (JSON on stdin)" },
  dev: { run: runDev, usage: devUsage, summary: "run the gateway and the reference LM locally" },
  "serve-gateway": { run: runServeGateway, usage: serveGatewayUsage, summary: "serve the gateway locally (workerd, as wrangler dev, without its inspector)" },
  "serve-lm": { run: runServeLm, usage: serveLmUsage, summary: "serve the reference LMs (OpenAI completions, vLLM pooling)" },
  prompts: { run: runPrompts, usage: promptsUsage, summary: "write reference-task prompts as JSONL (seeded splits)" },
  collect: { run: runCollect, usage: collectUsage, summary: "collect hidden states and scored samples from an LM endpoint" },
  train: { run: runTrain, usage: trainUsage, summary: "train, calibrate and export the difficulty predictor (ONNX)" },
  eval: { run: runEval, usage: evalUsage, summary: "quality-vs-compute report: uniform, learned, oracle, random; routers: weak/strong/mix/allot/oracle" },
  "train-route": { run: runTrainRoute, usage: trainRouteUsage, summary: "train a router over several models (ONNX, with the menu's costs)" },
  audits: { run: runAudits, usage: auditsUsage, summary: "export a tenant's audited prompts as a dataset train and eval read (audits export)" },
  publish: { run: runPublish, usage: publishUsage, summary: "publish a trained predictor or router to a gateway (validated there)" },
  doctor: { run: runDoctor, usage: doctorUsage, summary: "probe the gateway's model servers and say which setting to change" },
  "measure-lm": { run: runMeasureLm, usage: measureLmUsage, summary: "measure a reference LM's success per difficulty cell" },
};

function help(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: allot <command> [options]\n\ncommands:\n${rows.join("\n")}\n\nallot <command> --help for details.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(help() + "\n");
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`allot: unknown command "${name}"\n${help()}\n`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(command.usage + "\n");
    return 0;
  }
  try {
    await command.run(args);
    return 0;
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`allot ${name}: ${e.message.replace(/\s*\n\s*/g, " ")}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode ||= code;
