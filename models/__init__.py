from models.detector import Detector, build_detector

__all__ = ['Detector', 'build_detector']
