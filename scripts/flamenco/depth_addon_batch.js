// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco custom job type: run one task of a depth_addon batch job (job.json) on the farm,
// split into frame chunks. Each chunk is a self-contained `depth_cli.py batch` call, so any
// worker can take any chunk; finished units are skipped on re-runs (the task's manifest.json).
//
// Install: copy this file into the Flamenco Manager's `scripts/` folder and restart it.
// Chunks must share one locked depth range: give the task a "range" in the job file, or run
// `depth_cli.py batch job.json --plan` first (it writes job.planned.json with ranges filled in).

const JOB_TYPE = {
    label: "Depth Addon Batch",
    description: "Depth, generation and write-back for one task of a depth_addon job file",
    settings: [
        { key: "job_file", type: "string", subtype: "file_path", required: true,
          description: "The batch job (job.json or job.planned.json) on shared storage" },
        { key: "task", type: "string", required: true, description: "Name of the task in the job file" },
        { key: "frame_start", type: "int32", required: true, eval: "C.scene.frame_start",
          description: "First frame of the task" },
        { key: "frame_end", type: "int32", required: true, eval: "C.scene.frame_end",
          description: "Last frame of the task (inclusive)" },
        { key: "chunk_size", type: "int32", default: 10, propargs: {min: 1}, visible: "submission",
          description: "Frames per farm task" },
        { key: "cli_script", type: "string", subtype: "file_path", required: true, visible: "submission",
          description: "Path of scripts/depth_cli.py on shared storage" },
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "The task's .blend file" },
    ]
};

// Inclusive [start, end] chunks of at most `size` frames, in order (same rule as
// depth_addon.batch.split.split_units).
function chunkRange(start, end, size) {
    if (size < 1) {
        throw `chunk size must be at least 1, got ${size}`;
    }
    if (end < start) {
        throw `frame_end ${end} is before frame_start ${start}`;
    }
    const chunks = [];
    for (let s = start; s <= end; s += size) {
        chunks.push([s, Math.min(s + size - 1, end)]);
    }
    return chunks;
}

function compileJob(job) {
    const settings = job.settings;
    for (const [s, e] of chunkRange(settings.frame_start, settings.frame_end, settings.chunk_size)) {
        const task = author.Task(`depth-${settings.task}-${s}-${e}`, "blender");
        task.addCommand(author.Command("blender-render", {
            exe: "{blender}",
            exeArgs: "{blenderArgs}",
            argsBefore: [],
            blendfile: settings.blendfile,
            args: ["--python-exit-code", "1", "--python", settings.cli_script, "--",
                   "--json", "batch", settings.job_file, "--task", settings.task,
                   "--frames", `${s}`, `${e}`],
        }));
        job.addTask(task);
    }
}
