import { loadStackFile } from '../stacks/load.ts';
import { render } from '../synth/render.ts';
import * as yaml from 'js-yaml';
const s = loadStackFile('stacks/Pulumi.prod.yaml');
const r = render(s);
console.log(r.objects.map(o => yaml.dump(o, {sortKeys: true, noRefs: true, lineWidth: -1})).join('---\n'));
