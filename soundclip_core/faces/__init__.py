"""Faces as FFHQ-trained generators expect them: found (MTCNN), aligned the way FFHQ was made, and the edited
face put back into the photo.

    detector = FaceDetector()                     # weights from `pip install "soundclip[faces]"`
    face = largest(detector.detect(pixels))       # or every face of detector.detect(...)
    aligned, transform = align_face(picture, face.landmarks, size=1024)
    ... invert / edit the aligned face ...
    photo = paste_back(edited, transform, picture)

`align_photo` / `paste_edits` do the same for the engine's [-1, 1] pictures (the CLI and nodes call them).
"""

from .align import FaceTransform, align_face, align_mask, ffhq_quad
from .detector import Face, FaceDetector
from .paste import DEFAULT_FEATHER, face_coordinates, paste_back
from .photo import ALIGNED_SIZE, FaceInPhoto, align_photo, detector_on, paste_edits, paste_faces
from .select import WHICH, FaceNotFound, find_faces, largest

__all__ = ["ALIGNED_SIZE", "DEFAULT_FEATHER", "WHICH", "Face", "FaceDetector", "FaceInPhoto", "FaceNotFound",
           "FaceTransform", "align_face", "align_mask", "align_photo", "detector_on", "face_coordinates", "ffhq_quad",
           "find_faces", "largest", "paste_back", "paste_edits", "paste_faces"]
