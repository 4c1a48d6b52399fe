import { flameTree, profileProblem, topFunctions, type CpuProfile } from '../src/profile/cpuProfile';
import { flameGraph } from './flameGraph';

/**
 * The standalone page `herd profile` writes: the profile is in the page
 * itself (a JSON script element), and this script with it, so the file
 * works offline, from anywhere, with no server.
 */
function main(): void {
  const data = document.getElementById('herd-profile');
  const mount = document.getElementById('flame');
  const top = document.getElementById('top');
  if (!data || !mount || !top) return;
  const profile = JSON.parse(data.textContent ?? 'null') as unknown;
  const problem = profileProblem(profile);
  if (problem) {
    mount.textContent = `not a CPU profile: ${problem}`;
    return;
  }
  const graph = flameGraph(flameTree(profile as CpuProfile));
  mount.append(graph.el);
  for (const f of topFunctions(profile as CpuProfile, 15)) {
    const row = document.createElement('tr');
    for (const [text, cls] of [[f.functionName, ''], [f.location, 'loc'], [f.selfMs.toFixed(1), 'num'], [`${f.selfPct.toFixed(1)}%`, 'num'], [`${f.totalPct.toFixed(1)}%`, 'num']] as const) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      row.append(td);
    }
    top.append(row);
  }
}

main();
