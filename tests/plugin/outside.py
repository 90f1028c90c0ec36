"""An engine, a scenario (with a metric of its own), a task kind and a report writer
written outside the package, one module each, as a user writes them
(tests/plugin/test_outside_registrations.py uses them; docs/new-engine.md,
new-scenario.md and new-task.md show the same API)."""

from __future__ import annotations

import textwrap

#: my_engine.py: an engine that echoes the first words of the prompt, one token per word
ENGINE = textwrap.dedent('''
    import asyncio
    import time

    from pydantic import Field

    from openaiperf.engines import Engine, engines
    from openaiperf.registry import Options


    class EchoOptions(Options):
        #: at most this many words per answer
        max_words: int = Field(default=64, gt=0)


    @engines.register("echo")
    class EchoEngine(Engine):
        Options = EchoOptions

        def prepare(self):
            pass

        def _serve(self, request, record):
            record.sent = time.perf_counter()
            prompt = request.prompt or request.messages[-1]["content"]
            words = prompt.split()[: min(request.max_tokens, self.options.max_words)]
            for _ in words:
                record.mark_token()
            record.text = " ".join(words)
            record.input_tokens, record.output_tokens = len(prompt.split()), len(words)
            record.done = time.perf_counter()

        def run(self, requests, records, on_done):
            for request, record in zip(requests, records):
                self._serve(request, record)
                on_done(record)

        async def stream(self, request, record):
            await asyncio.to_thread(self._serve, request, record)

        def teardown(self):
            pass

        def info(self):
            return {"engine": self.name, "options": self.options.model_dump()}
''')

#: my_scenario.py: requests sent in bursts of burst_size, each burst after the previous one completed
SCENARIO = textwrap.dedent('''
    import time

    from openaiperf.metrics import Metric
    from openaiperf.metrics.catalogue import declare
    from openaiperf.records import Record
    from openaiperf.registry import Options, option_field
    from openaiperf.scenarios import Scenario, ScenarioRun, check_minimums, new_records, scenarios


    # the scenario's metric: one declaration (a column of the case tables, followed in the history)
    declare("bursts", "bursts", "higher", "bursts", "bursts of requests sent", format="{:.0f}",
            source="scenario burst", headline=True, trend=True)


    class BurstOptions(Options):
        burst_size: int = option_field(2, ge=1, flag="--burst-size", metavar="N",
                                       help="requests per burst")


    @scenarios.register("burst")
    class BurstScenario(Scenario):
        Options = BurstOptions

        def run(self, engine, requests, sink, round_index=0):
            records = new_records(requests, round_index)
            size = self.options.burst_size
            start = time.perf_counter()
            for first in range(0, len(requests), size):
                now = time.perf_counter()
                for record in records[first:first + size]:
                    record.scheduled = now
                engine.run(requests[first:first + size], records[first:first + size], sink)
            run = ScenarioRun(records=records, start=start, end=time.perf_counter(), settings={"burst_size": size})
            check_minimums(run, self.config)
            return run

        def metrics(self, records, runs):
            size = self.options.burst_size
            return {"bursts": Metric(sum(-(-len(run.records) // size) for run in runs), "bursts", "higher")}
''')

#: my_kind.py: a task kind that makes its own prompts and checks the echo
TASK_KIND = textwrap.dedent('''
    from pydantic import Field

    from openaiperf.records import Request
    from openaiperf.registry import Options
    from openaiperf.tasks import QualityResult, Sample, Task, select_subset, task_kinds


    class CountingOptions(Options):
        prompts: int = Field(default=6, gt=0)


    @task_kinds.register("counting")
    class CountingTask(Task):
        needs_dataset = False
        Options = CountingOptions

        def load_samples(self, max_samples, seed):
            samples = [Sample(id=f"n{n}", fields={"text": " ".join(str(i) for i in range(n + 1))})
                       for n in range(self.parameters.prompts)]
            return select_subset(samples, max_samples, seed, source=f"task {self.spec.name}")

        def build_requests(self, samples, model):
            return [Request(id=s.id, sample_id=s.id, prompt=s.fields["text"],
                            max_tokens=self.spec.input_profile.max_new_tokens) for s in samples]

        def evaluate(self, samples, records, model):
            expected = {s.id: s.fields["text"] for s in samples}
            # the prompt as sent starts with the request's salt (recorded with it), which the echo repeats
            echoed = [r for r in records
                      if r.ok and r.text == " ".join(filter(None, [r.salt, expected[r.sample_id]]))]
            result = QualityResult(scores={"echoed": len(echoed) / len(samples)})
            result.checks["echoed"] = (len(echoed) == len(samples), f"{len(echoed)} of {len(samples)} echoed")
            return result
''')

#: my_writer.py: a report writer that lists each case's bursts (it reads the typed report, as every writer),
#: into a file its own option names
WRITER = textwrap.dedent('''
    from openaiperf.report import Writer, WriterOptions, writers
    from openaiperf.settings import setting


    class BurstsOptions(WriterOptions):
        bursts_file: str = setting("bursts.txt", flag="--bursts-file", metavar="NAME",
                                   help="the file in the run folder the bursts are listed in")


    @writers.register("bursts")
    class BurstsWriter(Writer):
        Options = BurstsOptions

        def write(self, report):
            path = report.run_dir / self.options.bursts_file
            path.write_text("".join(f"{case.id} {case.value('bursts'):.0f}\\n" for case in report.results))
            return [path]
''')

#: counting.yaml: a task of that kind
TASK_FILE = textwrap.dedent('''
    name: counting.numbers
    kind: counting
    scenarios: [burst]
    input_profile: {max_new_tokens: 16}
    warmup: {samples: 0}
    parameters: {prompts: 5}
''')

MATRIX = textwrap.dedent('''
    suites:
      - tasks: [counting.numbers]
        scenarios: [burst]
        engines: [echo]
        models: [tiny]
        engine_options:
          echo: {max_words: 32}
''')

MODELS = "tiny:\n  source: test/tiny\n  parameters: 1000000\n  dtype: float32\n  chat: false\n"

#: the entry points a distribution would declare for the three modules
ENTRY_POINTS = textwrap.dedent('''
    [openaiperf.engines]
    echo = my_engine:EchoEngine
    [openaiperf.scenarios]
    burst = my_scenario:BurstScenario
    [openaiperf.tasks]
    counting = my_kind:CountingTask
    [openaiperf.writers]
    bursts = my_writer:BurstsWriter
''')
