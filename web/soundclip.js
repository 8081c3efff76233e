// SoundCLIP's frontend extension (ComfyUI loads it from the pack's WEB_DIRECTORY).
//
// 1. Load Audio (SoundCLIP) gets core Load Audio's player, upload button, drag-and-drop and paste. The
//    frontend adds its upload widget (AUDIOUPLOAD) to any node that declares `audio_upload`, but the player
//    widget (AUDIO_UI) that the upload widget needs only to core's own audio nodes, by name: declared from
//    Python alone, our node would fail while it is built. So both widgets are added here, the player first,
//    and after the node's own widgets so that saved workflows keep their widget values in place (neither
//    widget is saved).
// 2. A file uploaded anywhere (core Load Audio or Load Image included) shows at once in the lists of our
//    file nodes (sounds in Load Audio, PNGs in Load Latent from PNG), and of those added later, without
//    refreshing the node definitions.
// 3. Seeds of new SoundCLIP nodes start "fixed" (the frontend's default is "randomize", which would rerun a
//    long optimisation on every Run); a loaded workflow keeps the values it saved.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

export const LOAD_AUDIO = "SoundCLIP_LoadAudio";
// our nodes that list files of the input folder: the widget holding the list, and the files it lists
const FILE_LISTS = {
  [LOAD_AUDIO]: { widget: "audio", files: /\.(wav|flac|ogg|oga|mp3)$/i },
  SoundCLIP_LoadLatentFromPNG: { widget: "image", files: /\.png$/i },
};
const uploaded = new Set();

export function addAudioWidgets(nodeData) {
  const required = nodeData.input.required;
  delete required.upload; // where the frontend added it already: it must come after the player
  required.audioUI = ["AUDIO_UI", {}];
  required.upload = ["AUDIOUPLOAD", {}];
}

export function offerFile(node, name) {
  const lists = FILE_LISTS[node.comfyClass];
  if (!lists?.files.test(name)) return;
  const list = node.widgets?.find((w) => w.name === lists.widget)?.options?.values;
  if (list && !list.includes(name)) {
    list.push(name);
    list.sort((a, b) => a.localeCompare(b));
  }
}

export function fixSeeds(node) {
  for (const widget of node.widgets ?? []) {
    if (widget.name === "control_after_generate") widget.value = "fixed";
  }
}

export async function noteUpload(response) {
  if (!response.ok) return;
  const data = await response.clone().json();
  const name = data.subfolder ? `${data.subfolder}/${data.name}` : data.name;
  uploaded.add(name);
  for (const node of app.graph?._nodes ?? []) offerFile(node, name);
}

const fetchApi = api.fetchApi.bind(api);
api.fetchApi = async (route, options) => {
  const response = await fetchApi(route, options);
  if (route === "/upload/image" && options?.method === "POST") {
    await noteUpload(response).catch((error) => console.warn("SoundCLIP: upload not listed", error));
  }
  return response;
};

app.registerExtension({
  name: "SoundCLIP.Nodes",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === LOAD_AUDIO) addAudioWidgets(nodeData);
  },
  async nodeCreated(node) {
    if (!node.comfyClass?.startsWith("SoundCLIP_")) return;
    fixSeeds(node);
    uploaded.forEach((name) => offerFile(node, name));
  },
});
