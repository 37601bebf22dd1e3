import { allocate } from "../../core/allocation/build.js";
import { AllocationError } from "../../core/allocation/errors.js";
import { AllocateRequestSchema } from "../../core/contracts/allocate.js";
import { firstIssue } from "../../core/contracts/issues.js";
import { CliError, parseJson, readStdin } from "./io.js";

export const usage = `allot allocate < request.json

Reads {"budget", "min"?, "max"?, "queries": [{"id", "marginals" | "p", "min"?, "max"?}]}
on stdin and writes {"allocation": [{"id", "units"}], "objective", "used", "price",
"projected"} on stdout. Malformed or infeasible input: exit 2, one line on stderr.`;

/** `allot allocate`: the batch solver over stdin/stdout (DESIGN.md, "CLI allot allocate"). */
export async function runAllocate(args: string[]): Promise<void> {
  if (args.length > 0) throw new CliError(`allocate takes no arguments (got ${args.join(" ")}); the request comes on stdin`);
  const parsed = AllocateRequestSchema.safeParse(parseJson(await readStdin(), "stdin"));
  if (!parsed.success) throw new CliError(firstIssue(parsed.error).message);
  try {
    process.stdout.write(JSON.stringify(allocate(parsed.data)) + "\n");
  } catch (e) {
    if (e instanceof AllocationError) throw new CliError(e.param ? `${e.param}: ${e.message}` : e.message);
    throw e;
  }
}
